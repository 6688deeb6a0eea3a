// The store keeps everything the server must remember across restarts and share between instances.
// Every implementation passes the one suite in test/store/store.test.ts; timestamps are epoch
// milliseconds so that every backend compares them the same way.

export type SigningAlgorithm = 'ES256' | 'EdDSA' | 'RS256'

export interface User {
  /** Immutable random id, the `sub` of every token: a removed and re-added username gets a new one. */
  id: string
  /** Canonical form (passwords/username.ts), unique. */
  username: string
  email: string | null
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
  email?: string | null
  fullName?: string | null
  scopes?: string[]
  disabled?: boolean
  passwordHash?: string
  /** Raise `tokenVersion` in the same write, so tokens issued before it stop working. */
  revokeTokens?: boolean
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

export interface Store {
  /** Creates the user; throws `DuplicateUsernameError` when the username is taken. */
  createUser (user: NewUser): Promise<User>
  findUserByUsername (username: string): Promise<User | null>
  findUserById (id: string): Promise<User | null>
  /** Applies the changes and returns the updated user, or null when there is no such user. */
  updateUser (id: string, changes: UserChanges): Promise<User | null>
  /** Returns whether a user was removed. */
  removeUser (id: string): Promise<boolean>
  /** Every user, ordered by username. */
  listUsers (): Promise<User[]>
  countUsers (): Promise<number>

  /** Every signing key, newest first: the first one signs, all of them verify. */
  listSigningKeys (): Promise<SigningKey[]>
  /**
   * Stores `key` only if the store holds no signing key yet, then returns every key, so that
   * instances starting at the same moment end up with one key set.
   */
  addFirstSigningKey (key: SigningKey): Promise<SigningKey[]>

  /** Resolves when the backend answers; rejects otherwise. */
  ping (): Promise<void>
  close (): Promise<void>
}

export class DuplicateUsernameError extends Error {
  readonly code = 'DUPLICATE_USERNAME'
  constructor (username: string) {
    super(`user "${username}" exists already`)
    this.name = 'DuplicateUsernameError'
  }
}
