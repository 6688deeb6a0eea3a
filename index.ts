// The package's public face: what a host imports from 'fastify-oauth2-password'. Nothing here
// loads a database or Redis driver: PostgresStore is 'fastify-oauth2-password/postgres', and the
// stores that openStore and the plugin open import their driver only when opened.
import type { DuplicateClientError, DuplicateUsernameError } from './store/types.js'
import type { MissingDriverError } from './store/drivers.js'
import type { StoreUnavailableError } from './store/errors.js'
import type { HashingSaturatedError } from './passwords/hasher.js'
import type { InsufficientScopeError, InvalidDPoPProofError, InvalidTokenError, MalformedRequestError, MissingTokenError } from './tokens/bearer.js'
import type {
  EmailMissingError, InvalidScopeError, InvalidUserFieldError, InvalidUsernameError, SessionNotFoundError, UserExistsError, UserNotFoundError,
  WeakPasswordError, TotpEnrolledError, TotpNotEnrolledError, TotpCodeInvalidError
} from './users/users.js'

export {
  default, oauth2Password, SECURITY_SCHEME,
  type OAuth2PasswordOptions, type AuthUser, type Authenticate, type AccessTokenClaims, type RedisClient
} from './plugins/auth.js'
export { openStore, MemoryStore, SqliteWorkerStore, type OpenStoreOptions } from './store/index.js'
// The Store interface, the records it keeps, and the errors a store throws.
export * from './store/types.js'
export { StoreUnavailableError } from './store/errors.js'
export { MissingDriverError, type Driver } from './store/drivers.js'
export {
  createUsers, DEFAULT_PASSWORD_MIN_LENGTH,
  InvalidUsernameError, WeakPasswordError, InvalidScopeError, InvalidUserFieldError, UserExistsError, UserNotFoundError,
  TotpEnrolledError, TotpNotEnrolledError, TotpCodeInvalidError, EmailMissingError, SessionNotFoundError,
  type Users, type UsersOptions, type UserAccount, type NewUserAccount, type TotpActivation, type TotpSecret
} from './users/users.js'
export { canonicalUsername } from './passwords/username.js'
export { HashingSaturatedError, type Argon2Parameters } from './passwords/hasher.js'
export { MissingTokenError, MalformedRequestError, InvalidTokenError, InsufficientScopeError, InvalidDPoPProofError } from './tokens/bearer.js'
export type { OAuthErrorCode } from './oauth/errors.js'

/** The `code` of every error the package throws or answers a protected route with (the token endpoints answer with an OAuthErrorCode). */
export type ErrorCode = InstanceType<
  | typeof MissingTokenError | typeof MalformedRequestError | typeof InvalidTokenError | typeof InsufficientScopeError | typeof InvalidDPoPProofError
  | typeof InvalidUsernameError | typeof WeakPasswordError | typeof InvalidScopeError | typeof InvalidUserFieldError
  | typeof UserExistsError | typeof UserNotFoundError | typeof TotpEnrolledError | typeof TotpNotEnrolledError | typeof TotpCodeInvalidError
  | typeof EmailMissingError | typeof SessionNotFoundError
>['code'] | DuplicateUsernameError['code'] | DuplicateClientError['code'] | MissingDriverError['code'] | HashingSaturatedError['code'] | StoreUnavailableError['code']
