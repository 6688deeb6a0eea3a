// The store keeps everything the server must remember across restarts and share between instances.
// Every implementation passes the one suite in test/store/fixtures.ts (storeContract); timestamps are epoch
// milliseconds so that every backend compares them the same way.

export type SigningAlgorithm = 'ES256' | 'EdDSA' | 'RS256'

export interface User {
  /** Immutable random id, the `sub` of every token: a removed and re-added username gets a new one. */
  id: string
  /** Canonical form (passwords/username.ts), unique. */
  username: string
  email: string | null
  /** Whether the owner of `email` proved they receive mail there (a code sent to it came back); false again whenever `email` changes. */
  emailVerified: boolean
  fullName: string | null
  /** The scopes this user may be granted. */
  scopes: string[]
  disabled: boolean
  /** An argon2 PHC string. */
  passwordHash: string
  /** Raised by a change with `revokeTokens` (a new password, disabling); tokens carry the value they were issued under. */
  tokenVersion: number
  createdAt: number
}

export interface NewUser {
  username: string
  email?: string | null
  fullName?: string | null
  scopes: string[]
  passwordHash: string
}

export interface UserChanges {
  /** A different address than the stored one also sets `emailVerified` to false, unless `emailVerified` is given too. */
  email?: string | null
  emailVerified?: boolean
  fullName?: string | null
  scopes?: string[]
  disabled?: boolean
  passwordHash?: string
  /** Raise `tokenVersion` in the same write, so tokens issued before it stop working. */
  revokeTokens?: boolean
  /**
   * With `revokeTokens`: the refresh family of this id, if it is the user's and not revoked, moves
   * to the new token version in the same write, so that this one login outlives the change.
   */
  keepRefreshFamily?: string
}

export interface SigningKey {
  /** The JWS `kid`. */
  kid: string
  /** The one algorithm this key signs and verifies with. */
  alg: SigningAlgorithm
  /** PKCS#8 PEM. */
  privateKey: string
  /** SPKI PEM. */
  publicKey: string
  createdAt: number
}

/** A login's chain of refresh tokens (RFC 9700 §4.14.2): reuse of a spent one revokes them all. */
export interface RefreshFamily {
  id: string
  userId: string
  clientId: string
  /** What the login was granted; a refresh may narrow the access token, never this. */
  scopes: string[]
  /** The user's tokenVersion at login: a later password change or disabling ends the family. */
  tokenVersion: number
  createdAt: number
  /** The absolute end of the family, however often it is refreshed. */
  expiresAt: number
  revokedAt: number | null
  /**
   * The SHA-256 thumbprint of the DPoP key its refresh tokens are bound to (RFC 9449 §5: a public
   * client's login with a DPoP proof), or null when they are not bound.
   */
  jkt: string | null
}

/** A family as it starts: not revoked, and bound to no DPoP key unless `jkt` says so. */
export type NewRefreshFamily = Omit<RefreshFamily, 'revokedAt' | 'jkt'> & { jkt?: string | null }
/** A live login, as its user sees it: its refresh family, and when it was last refreshed (or made). */
export interface Session extends RefreshFamily {
  lastUsedAt: number
}

/** One refresh token, kept only as the SHA-256 of its value. */
export interface RefreshToken {
  hash: string
  familyId: string
  createdAt: number
  /** Idle expiry; never later than the family's. */
  expiresAt: number
  spentAt: number | null
}

export type NewRefreshToken = Pick<RefreshToken, 'hash' | 'createdAt' | 'expiresAt'>

/** What must hold of a refresh token's login for the token to be spent, checked in the same atomic step. */
export interface RotationTerms {
  /** The client presenting the token: a refresh token is bound to the client it was issued to (RFC 6749 §6). */
  clientId: string
  /** The key the request proved with DPoP, if any: a family bound to a key needs that key (RFC 9449 §5). */
  jkt: string | null
  /** The scopes asked for: a refresh may narrow its login's scope, never widen it (RFC 6749 §6). */
  scopes: readonly string[]
}

/**
 * Which of the terms a family fails: its client, its DPoP key, the scopes asked for, or its user,
 * gone, disabled, or with another token version since a password change.
 */
export type UnmetTerm = 'client' | 'key' | 'scope' | 'user'

export type RotationResult =
  /** `hash` was live: it is now spent and `next` is stored in its family, in one atomic write. */
  | { outcome: 'rotated', family: RefreshFamily, user: User }
  /** The token's family fails a term (checked first, whatever the token's state); nothing was written. */
  | { outcome: 'refused', family: RefreshFamily, unmet: UnmetTerm }
  /** `hash` had been spent already (at `spentAt`); nothing was written. */
  | { outcome: 'spent', family: RefreshFamily, spentAt: number }
  /** Unknown, expired, or its family is revoked or expired; nothing was written. */
  | { outcome: 'invalid' }

/**
 * Something that ends access tokens before they expire, as every instance must learn of it within a
 * second: an access token revoked by its `jti`, a refresh family revoked (its access tokens carry its
 * id as `sid`), or a change to a user (disabled, new password, removed, renamed) that tokens of the
 * user must be checked against again.
 */
export interface Revocation {
  kind: 'access_token' | 'refresh_family' | 'user'
  /** The jti, the family id or the user id. */
  id: string
  /** When it was recorded, by the clock of the instance that recorded it. */
  at: number
  /** For an access token, when it expires; null for the other kinds. */
  expiresAt: number | null
}

/** What a one-time code proves when it comes back: receipt of mail at the address it was sent to. */
export type CodePurpose = 'verify_email' | 'reset_password'

/** A code e-mailed to a user, kept only as the SHA-256 of its value. */
export interface OneTimeCode {
  hash: string
  purpose: CodePurpose
  userId: string
  /** The address it was sent to: the code is good only while the user still has it. */
  email: string
  createdAt: number
  expiresAt: number
  usedAt: number | null
}

export interface Client {
  id: string
  /**
   * What the secret is kept as (clients/secrets.ts: a SHA-256 digest, or an argon2 PHC string
   * from earlier versions); null for a public client, which authenticates by id alone.
   */
  secretHash: string | null
  /** The scopes this client may obtain for its users. */
  scopes: string[]
  createdAt: number
}

/** A user's second factor (RFC 6238 TOTP), as the store keeps it. */
export interface TotpEnrollment {
  userId: string
  /**
   * The shared secret, base32, as KeyEncryption.sealTotpSecret left it: encrypted when the server has
   * a SIGNING_KEY_SECRET, so that the store never sees it in clear then.
   */
  secret: string
  /** `pending` until a first code confirms it; only an `active` one is asked for at login. */
  state: 'pending' | 'active'
  /** The last RFC 6238 time step a code was accepted for (null before the first): no code of it or of an earlier step is accepted again. */
  lastStep: number | null
  /** When the enrollment was started. */
  createdAt: number
}

export interface Store {
  /** Creates the user; throws `DuplicateUsernameError` when the username is taken. */
  createUser (user: NewUser): Promise<User>
  findUserByUsername (username: string): Promise<User | null>
  findUserById (id: string): Promise<User | null>
  /** Applies the changes, records a `user` revocation, and returns the updated user, or null when there is no such user. */
  updateUser (id: string, changes: UserChanges): Promise<User | null>
  /** Returns whether a user was removed; records a `user` revocation when one was. */
  removeUser (id: string): Promise<boolean>
  /** Every user, ordered by username. */
  listUsers (): Promise<User[]>
  /** The users whose e-mail address is `email`, ASCII letters compared in any case, ordered by username. */
  findUsersByEmail (email: string): Promise<User[]>
  countUsers (): Promise<number>

  /** Every signing key, newest first: the first one signs, all of them verify. */
  listSigningKeys (): Promise<SigningKey[]>
  /**
   * Stores `key` only if the store holds no signing key yet, then returns every key, so that
   * instances starting at the same moment end up with one key set.
   */
  addFirstSigningKey (key: SigningKey): Promise<SigningKey[]>

  /** Stores a key that signs from now on; older keys keep verifying until they are removed. */
  addSigningKey (key: SigningKey): Promise<void>
  /** Removes the keys with these kids. */
  removeSigningKeys (kids: readonly string[]): Promise<void>
  /**
   * Replaces the stored private key of the key `kid` (with the same key encrypted, or decrypted);
   * returns whether there was such a key. The old value is not kept anywhere the store can help it.
   */
  updateSigningKey (kid: string, privateKey: string): Promise<boolean>

  /** Starts a family with its first token. */
  createRefreshFamily (family: NewRefreshFamily, first: NewRefreshToken): Promise<void>
  /**
   * Spends the live token `hash` and stores `next` in its family if the family meets `terms`,
   * atomically: of two concurrent calls with one hash, exactly one gets `rotated`, with the family's
   * user as it is now. `next.expiresAt` is capped at the family's end.
   */
  rotateRefreshToken (hash: string, next: NewRefreshToken, now: number, terms: RotationTerms): Promise<RotationResult>
  /** The token and its family, whatever their state, or null. */
  findRefreshToken (hash: string): Promise<{ token: RefreshToken, family: RefreshFamily } | null>
  /** Marks the family revoked (idempotent); none of its tokens refreshes again. */
  revokeRefreshFamily (familyId: string, now: number): Promise<void>
  /**
   * The user's live logins at `now`, most recently used first: families neither revoked nor
   * expired, of the user's current token version, with a token that can still refresh.
   */
  listSessions (userId: string, now: number): Promise<Session[]>

  createOneTimeCode (code: Omit<OneTimeCode, 'usedAt'>): Promise<void>
  /** The code, whatever its state, or null. */
  findOneTimeCode (hash: string): Promise<OneTimeCode | null>
  /**
   * When `hash` is a live code for `purpose` (unused, unexpired, and its user still has the address
   * it was sent to): marks it, and every other live code of its user for `purpose`, used at `now`,
   * applies `changes` to the user as updateUser does, and returns the updated user, in one write. Of
   * two concurrent uses of one code, one gets the user. Otherwise writes nothing and returns null.
   */
  useOneTimeCode (hash: string, purpose: CodePurpose, now: number, changes: UserChanges): Promise<User | null>

  /** Refuses the access token `jti` from `now` until `expiresAt`, when it would have expired anyway. */
  revokeAccessToken (jti: string, expiresAt: number, now: number): Promise<void>
  /**
   * Every revocation recorded at or after `since`: access tokens revoked, refresh families revoked
   * (also by `removeClient`), users changed by `updateUser` or removed by `removeUser`. Instances
   * poll it to refuse revoked tokens without reading the store on every request.
   */
  revocationsSince (since: number): Promise<Revocation[]>
  /** Deletes revocations, refresh tokens, families, DPoP proofs and one-time codes that can no longer matter at `now`, and changes of users recorded before it. */
  prune (now: number): Promise<void>

  /**
   * Records the DPoP proof `id` as used until `expiresAt`, atomically: resolves true for its first
   * use, false while it is recorded and unexpired at `now`, so that of concurrent uses on any
   * instance sharing the store exactly one is the first (RFC 9449 §11.1).
   */
  useDPoPProof (id: string, expiresAt: number, now: number): Promise<boolean>

  /** Throws `DuplicateClientError` when the id is taken. */
  createClient (client: Client): Promise<void>
  findClient (id: string): Promise<Client | null>
  /** Replaces a confidential client's stored secret; returns whether the client exists. */
  setClientSecret (id: string, secretHash: string): Promise<boolean>
  /** Returns whether a client was removed; its refresh families are revoked with it. */
  removeClient (id: string): Promise<boolean>
  /** Every client, ordered by id. */
  listClients (): Promise<Client[]>

  /** The user's TOTP enrollment, pending or active, or null. */
  findTotpEnrollment (userId: string): Promise<TotpEnrollment | null>
  /**
   * Starts a pending enrollment of the user with `secret` (as it is to be stored), replacing a pending
   * one; returns false, writing nothing, when the user has an active one or there is no such user.
   */
  startTotpEnrollment (userId: string, secret: string, now: number): Promise<boolean>
  /**
   * Makes the user's pending enrollment whose stored secret is `secret` active, with `step` as its
   * last accepted time step and `recoveryCodeHashes` as its recovery codes, atomically; returns false,
   * writing nothing, when there is no such pending enrollment (confirmed, replaced or removed meanwhile).
   */
  activateTotpEnrollment (userId: string, secret: string, step: number | null, recoveryCodeHashes: readonly string[]): Promise<boolean>
  /**
   * Records `step` as the last accepted time step of the user's active enrollment if it is later than
   * the last one, atomically: of concurrent calls with one step, through any number of stores sharing
   * the backend, exactly one gets true (RFC 6238 §5.2: a code is accepted once).
   */
  acceptTotpStep (userId: string, step: number): Promise<boolean>
  /** Deletes the user's recovery code with this hash; true for the one call that deleted it, atomically as acceptTotpStep. */
  spendRecoveryCode (userId: string, hash: string): Promise<boolean>
  /** Removes the user's enrollment, pending or active, with its recovery codes; returns whether there was one. */
  removeTotpEnrollment (userId: string): Promise<boolean>

  /** Resolves when the backend answers; rejects otherwise. */
  ping (): Promise<void>
  close (): Promise<void>
}

export class DuplicateUsernameError extends Error {
  readonly code = 'DUPLICATE_USERNAME'
  constructor (readonly username: string) {
    super(`user "${username}" exists already`)
    this.name = 'DuplicateUsernameError'
  }
}

export class DuplicateClientError extends Error {
  readonly code = 'DUPLICATE_CLIENT'
  constructor (readonly clientId: string) {
    super(`client "${clientId}" exists already`)
    this.name = 'DuplicateClientError'
  }
}
