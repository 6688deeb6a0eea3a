import createError from '@fastify/error'
import { PasswordHasher, passwordProblem, type Argon2Parameters } from '../passwords/hasher.js'
import { canonicalUsername, usernameProblem } from '../passwords/username.js'
import { DuplicateUsernameError, type Session, type Store, type User } from '../store/types.js'
import { isScopeToken } from '../tokens/scopes.js'
import { KeyEncryption, SIGNING_KEY_SECRET_MIN_LENGTH } from '../tokens/key-encryption.js'
import { SecondFactor, type TotpActivation, type TotpSecret } from './second-factor.js'

// Users from code: what the CLI's `user` commands do, for a host's scripts, seeds and tests. Every
// username is canonicalised first, every new password meets the rules and is hashed with argon2id,
// and every check runs before anything is written, so that a refused call leaves no half-made user.
// Each refusal is an @fastify/error with a stable code and the HTTP status a host's route would answer.

const quote = (text: string): string => JSON.stringify(text)

export const InvalidUsernameError = createError<'OAUTH2_USERNAME_INVALID', 400, [username: string, problem: string]>(
  'OAUTH2_USERNAME_INVALID', 'invalid username %s: %s', 400)
export const WeakPasswordError = createError<'OAUTH2_PASSWORD_WEAK', 400, [problem: string]>('OAUTH2_PASSWORD_WEAK', '%s', 400)
export const InvalidScopeError = createError<'OAUTH2_SCOPE_INVALID', 400, [scope: string]>(
  'OAUTH2_SCOPE_INVALID', 'invalid scope %s: a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)', 400)
export const InvalidUserFieldError = createError<'OAUTH2_USER_FIELD_INVALID', 400, [field: string]>(
  'OAUTH2_USER_FIELD_INVALID', '%s must not contain control characters', 400)
export const UserExistsError = createError<'OAUTH2_USER_EXISTS', 409, [username: string]>('OAUTH2_USER_EXISTS', 'user %s exists already', 409)
export const UserNotFoundError = createError<'OAUTH2_USER_NOT_FOUND', 404, [username: string]>('OAUTH2_USER_NOT_FOUND', 'user %s not found', 404)
export const EmailMissingError = createError<'OAUTH2_EMAIL_MISSING', 409, [username: string]>('OAUTH2_EMAIL_MISSING', 'user %s has no e-mail address', 409)
export const SessionNotFoundError = createError<'OAUTH2_SESSION_NOT_FOUND', 404, [username: string, id: string]>(
  'OAUTH2_SESSION_NOT_FOUND', 'user %s has no live login %s', 404)
export const TotpEnrolledError = createError<'OAUTH2_TOTP_ENROLLED', 409, [username: string]>(
  'OAUTH2_TOTP_ENROLLED', 'user %s has a TOTP second factor already; disable it first', 409)
export const TotpNotEnrolledError = createError<'OAUTH2_TOTP_NOT_ENROLLED', 404, [username: string, what: string]>(
  'OAUTH2_TOTP_NOT_ENROLLED', 'user %s has no %s', 404)
export const TotpCodeInvalidError = createError<'OAUTH2_TOTP_CODE_INVALID', 400, []>(
  'OAUTH2_TOTP_CODE_INVALID', 'the one-time code is wrong, or its time step was used already', 400)

export type { TotpActivation, TotpSecret } from './second-factor.js'

/** What the users API tells of a user: the stored user without its password hash and token version. */
export type UserAccount = Omit<User, 'passwordHash' | 'tokenVersion'>

export interface NewUserAccount {
  /** Canonicalised (NFKC and case folding) before anything else: 'Ａlice' creates 'alice'. */
  username: string
  password: string
  /** The scopes the user may be granted; none by default. */
  scopes?: readonly string[]
  /** An empty string means none, as null does. */
  email?: string | null
  fullName?: string | null
}

/** Create, change, find and list users; every method takes a username as typed and canonicalises it. */
export interface Users {
  /** Throws `OAUTH2_USERNAME_INVALID`, `OAUTH2_SCOPE_INVALID`, `OAUTH2_USER_FIELD_INVALID`, `OAUTH2_PASSWORD_WEAK` or `OAUTH2_USER_EXISTS`. */
  create (user: NewUserAccount): Promise<UserAccount>
  /** Sets a new password; tokens issued before stop working. */
  setPassword (username: string, password: string): Promise<void>
  /** Refuses the user's logins and tokens until enabled; tokens issued before stay refused after enabling. */
  disable (username: string): Promise<void>
  enable (username: string): Promise<void>
  /** Deletes the user; their tokens stop working, and a user created later under the name is another. */
  remove (username: string): Promise<void>
  /** The user, or null when there is none by that name. */
  find (username: string): Promise<UserAccount | null>
  /** Every user, ordered by username. */
  list (): Promise<UserAccount[]>
  /**
   * Gives the user a TOTP second factor (RFC 6238), active at once, as an operator does: the secret
   * and otpauth:// URI for an authenticator app, and ten single-use recovery codes, all shown this
   * once. From then on a password login of the user also needs a code. Throws `OAUTH2_TOTP_ENROLLED`
   * when the user has one already.
   */
  enrollTotp (username: string): Promise<TotpActivation>
  /**
   * Starts an enrollment that the user confirms with a first code of their app (`confirmTotpEnrollment`),
   * replacing one that waits for it. Throws `OAUTH2_TOTP_ENROLLED` when the user has an active one.
   */
  startTotpEnrollment (username: string): Promise<TotpSecret>
  /**
   * Activates the enrollment started for the user when `code` is a current code of it, and returns the
   * ten recovery codes. Throws `OAUTH2_TOTP_NOT_ENROLLED` when none waits, `OAUTH2_TOTP_CODE_INVALID`
   * for a wrong code.
   */
  confirmTotpEnrollment (username: string, code: string): Promise<string[]>
  /** Removes the user's second factor, active or waiting, and its recovery codes. Throws `OAUTH2_TOTP_NOT_ENROLLED` when there is none. */
  disableTotp (username: string): Promise<void>
  /** Marks the user's e-mail address verified, as a code sent to it would; throws `OAUTH2_EMAIL_MISSING` when there is none. */
  verifyEmail (username: string): Promise<void>
  /** The user's live logins (refresh families), most recently used first. */
  sessions (username: string): Promise<Session[]>
  /** Ends one login of the user and its tokens; throws `OAUTH2_SESSION_NOT_FOUND` when the user has no live login of that id. */
  endSession (username: string, sessionId: string): Promise<void>
  /** Ends every login and every token of the user. */
  endSessions (username: string): Promise<void>
}

/** NIST SP 800-63B-4 §3.1.1.2: 15 for single-factor passwords, and never below 8. */
export const DEFAULT_PASSWORD_MIN_LENGTH = 15

export interface UsersOptions {
  store: Store
  /** argon2id cost of new password hashes; OWASP's 19 MiB, 2 passes, 1 lane by default. Cheap ones make tests fast. */
  argon2?: Partial<Argon2Parameters>
  /** The fewest characters a new password may have: 8 to 1024, 15 by default. */
  passwordMinLength?: number
  /** The plugin's issuer URL: authenticator apps show its host beside the user's codes. */
  issuer?: string
  /** The plugin's signingKeySecret (SIGNING_KEY_SECRET): TOTP secrets are stored encrypted with it, as signing keys are. */
  signingKeySecret?: string
}

/** The canonical form of `username`; throws `OAUTH2_USERNAME_INVALID` when no account can have it. */
export function checkUsername (username: string): string {
  const canonical = canonicalUsername(username)
  const problem = usernameProblem(canonical)
  if (problem !== null) throw new InvalidUsernameError(quote(canonical), problem)
  return canonical
}

/** The scopes without repeats; throws `OAUTH2_SCOPE_INVALID` for one that is no RFC 6749 scope token. */
export function checkScopes (scopes: readonly string[]): string[] {
  const invalid = scopes.find(scope => !isScopeToken(scope))
  if (invalid !== undefined) throw new InvalidScopeError(quote(invalid))
  return [...new Set(scopes)]
}

/** An e-mail address or a name to keep: null for none or empty; throws `OAUTH2_USER_FIELD_INVALID` for control characters, which would garble a listing. */
export function checkText (field: string, value: string | null | undefined): string | null {
  if (value === undefined || value === null || value === '') return null
  if (/\p{Cc}/u.test(value)) throw new InvalidUserFieldError(field)
  return value
}

/** Throws `OAUTH2_PASSWORD_WEAK`, naming the rule, when `password` may not be set: the one check of every new password. */
export function checkPassword (password: string, minLength: number): void {
  const problem = passwordProblem(password, minLength)
  if (problem !== null) throw new WeakPasswordError(problem)
}

function account ({ passwordHash: _hash, tokenVersion: _version, ...rest }: User): UserAccount {
  return rest
}

/** The users API over `store`, hashing with `hasher`: the plugin shares its own hasher, and so its limit on concurrent hashes. */
export class UserAdmin implements Users {
  readonly #store: Store
  readonly #hasher: PasswordHasher
  readonly #passwordMinLength: number
  readonly #secondFactor: SecondFactor

  constructor (store: Store, hasher: PasswordHasher, passwordMinLength: number, secondFactor: SecondFactor) {
    this.#store = store
    this.#hasher = hasher
    this.#passwordMinLength = passwordMinLength
    this.#secondFactor = secondFactor
  }

  async create (user: NewUserAccount): Promise<UserAccount> {
    const username = checkUsername(user.username)
    const scopes = checkScopes(user.scopes ?? [])
    const email = checkText('email', user.email)
    const fullName = checkText('fullName', user.fullName)
    this.#checkPassword(user.password)
    // Looked up before hashing, so that a taken name costs no hash; the store still refuses a race.
    if (await this.#store.findUserByUsername(username) !== null) throw new UserExistsError(quote(username))
    const passwordHash = await this.#hasher.hash(user.password)
    try {
      return account(await this.#store.createUser({ username, scopes, email, fullName, passwordHash }))
    } catch (error) {
      if (error instanceof DuplicateUsernameError) throw new UserExistsError(quote(username))
      throw error
    }
  }

  async setPassword (username: string, password: string): Promise<void> {
    const user = await this.#get(username)
    this.#checkPassword(password)
    const passwordHash = await this.#hasher.hash(password)
    await this.#update(user, { passwordHash, revokeTokens: true })
  }

  async disable (username: string): Promise<void> {
    // Raising tokenVersion too means enabling later does not revive tokens issued before.
    await this.#update(await this.#get(username), { disabled: true, revokeTokens: true })
  }

  async enable (username: string): Promise<void> {
    await this.#update(await this.#get(username), { disabled: false })
  }

  async remove (username: string): Promise<void> {
    const user = await this.#get(username)
    if (!await this.#store.removeUser(user.id)) throw new UserNotFoundError(quote(user.username))
  }

  async find (username: string): Promise<UserAccount | null> {
    const user = await this.#store.findUserByUsername(checkUsername(username))
    return user === null ? null : account(user)
  }

  async list (): Promise<UserAccount[]> {
    return (await this.#store.listUsers()).map(account)
  }

  async enrollTotp (username: string): Promise<TotpActivation> {
    const user = await this.#get(username)
    const enrolled = await this.#secondFactor.enroll(user, Date.now())
    if (enrolled === null) throw new TotpEnrolledError(quote(user.username))
    return enrolled
  }

  async startTotpEnrollment (username: string): Promise<TotpSecret> {
    const user = await this.#get(username)
    const started = await this.#secondFactor.start(user, Date.now())
    if (started === null) throw new TotpEnrolledError(quote(user.username))
    return started
  }

  async confirmTotpEnrollment (username: string, code: string): Promise<string[]> {
    const user = await this.#get(username)
    const confirmed = await this.#secondFactor.confirm(user.id, code, Date.now())
    if (confirmed.outcome === 'not_pending') throw new TotpNotEnrolledError(quote(user.username), 'TOTP enrollment waiting for a first code')
    if (confirmed.outcome === 'wrong_code') throw new TotpCodeInvalidError()
    return confirmed.recoveryCodes
  }

  async disableTotp (username: string): Promise<void> {
    const user = await this.#get(username)
    if (!await this.#secondFactor.disable(user.id)) throw new TotpNotEnrolledError(quote(user.username), 'TOTP second factor')
  }

  async verifyEmail (username: string): Promise<void> {
    const user = await this.#get(username)
    if (user.email === null) throw new EmailMissingError(quote(user.username))
    await this.#update(user, { emailVerified: true })
  }

  async sessions (username: string): Promise<Session[]> {
    return await this.#store.listSessions((await this.#get(username)).id, Date.now())
  }

  async endSession (username: string, sessionId: string): Promise<void> {
    const user = await this.#get(username)
    const now = Date.now()
    // Among the user's own: another user's login is not found, as an unknown one.
    if (!(await this.#store.listSessions(user.id, now)).some(session => session.id === sessionId)) {
      throw new SessionNotFoundError(quote(user.username), quote(sessionId))
    }
    // Instances refuse the login's access tokens from their next poll of the store's revocations.
    await this.#store.revokeRefreshFamily(sessionId, now)
  }

  async endSessions (username: string): Promise<void> {
    await this.#update(await this.#get(username), { revokeTokens: true })
  }

  #checkPassword (password: string): void {
    checkPassword(password, this.#passwordMinLength)
  }

  async #get (username: string): Promise<User> {
    const canonical = checkUsername(username)
    const user = await this.#store.findUserByUsername(canonical)
    if (user === null) throw new UserNotFoundError(quote(canonical))
    return user
  }

  /** A user removed between the look-up and the write is not found, as if removed before. */
  async #update (user: User, changes: Parameters<Store['updateUser']>[1]): Promise<void> {
    if (await this.#store.updateUser(user.id, changes) === null) throw new UserNotFoundError(quote(user.username))
  }
}

/** What authenticator apps name the service when createUsers is given no issuer. */
const DEFAULT_ISSUER = 'oauth2-password'

/** The least of each argon2 parameter, as the plugin's options schema has them. */
const ARGON2_MINIMUM: Record<keyof Argon2Parameters, number> = { memoryCost: 1024, timeCost: 1, parallelism: 1 }

/** Checks createUsers' options, which a script may have set wrong, naming the first wrong one. */
function checkOptions ({ argon2 = {}, passwordMinLength, issuer, signingKeySecret }: UsersOptions): void {
  const wrong = (name: string, expected: string, value: unknown): RangeError =>
    new RangeError(`option "${name}" must be ${expected}; received ${JSON.stringify(value)}`)
  if (passwordMinLength !== undefined && (!Number.isInteger(passwordMinLength) || passwordMinLength < 8 || passwordMinLength > 1024)) {
    throw wrong('passwordMinLength', 'an integer from 8 to 1024', passwordMinLength)
  }
  if (issuer !== undefined && (typeof issuer !== 'string' || !/^https?:\/\/[^\s"\\]+$/.test(issuer))) throw wrong('issuer', 'an http(s) URL', issuer)
  if (signingKeySecret !== undefined && (typeof signingKeySecret !== 'string' || signingKeySecret.length < SIGNING_KEY_SECRET_MIN_LENGTH)) {
    // Its length, never the secret itself.
    const received = typeof signingKeySecret === 'string' ? `a string of ${signingKeySecret.length} characters` : typeof signingKeySecret
    throw new RangeError(`option "signingKeySecret" must be a string of at least ${SIGNING_KEY_SECRET_MIN_LENGTH} characters; received ${received}`)
  }
  for (const [name, minimum] of Object.entries(ARGON2_MINIMUM)) {
    const value = argon2[name as keyof Argon2Parameters]
    if (value !== undefined && (!Number.isInteger(value) || value < minimum)) throw wrong(`argon2.${name}`, `an integer of at least ${minimum}`, value)
  }
}

/** The users API on its own, as the CLI and a host's scripts use it: over `store`, with a hasher of its own. */
export function createUsers (options: UsersOptions): Users {
  checkOptions(options)
  const secondFactor = new SecondFactor(options.store, new KeyEncryption(options.signingKeySecret), options.issuer ?? DEFAULT_ISSUER)
  return new UserAdmin(options.store, new PasswordHasher({ argon2: options.argon2 }), options.passwordMinLength ?? DEFAULT_PASSWORD_MIN_LENGTH, secondFactor)
}
