import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyRequest } from 'fastify'
import type { Store, User } from '../../store/types.js'
import { HashingSaturatedError, type PasswordHasher } from '../../passwords/hasher.js'
import { LimitsUnavailableError, type LoginLimiter } from '../../limits/login.js'
import type { RevocationList } from '../../tokens/revocations.js'
import { OAuthError } from '../../oauth/errors.js'
import { AccountError, type AccountErrorCode } from '../../accounts/errors.js'
import { AccountErrorResponse, accountError } from '../../schemas/accounts.js'
import { RETRY_AFTER } from '../../schemas/oauth.js'
import { header } from '../../schemas/responses.js'
import type { AccountLimiter } from '../../limits/accounts.js'
import type { Mailer } from '../../accounts/mailer.js'
import type { BackgroundWork } from '../../accounts/background.js'
import type { Users } from '../../users/users.js'
import sessions from './sessions.js'
import passwords from './passwords.js'
import register from './register.js'
import email from './email.js'

/** What the account endpoints share: the services the auth plugin built, and its settings. */
export interface AccountOptions {
  store: Store
  hasher: PasswordHasher
  limiter: LoginLimiter
  /** What this instance knows of revocations: one made here is recorded there at once. */
  revocations: RevocationList
  /** Tells `authenticate` at once that a user changed here, rather than at the next poll. */
  userChanged: (userId: string) => void
  passwordMinLength: number
  /** The users API on the plugin's store and hasher: registration creates users through it. */
  users: Users
  accountLimiter: AccountLimiter
  /** Null when mail is off: the endpoints that send or take a code are not registered. */
  mailer: Mailer | null
  /** Null when registration is closed; otherwise the scopes a registered user may be granted. */
  registration: { scopes: string[] } | null
  emailVerification: 'optional' | 'required'
  background: BackgroundWork
  issuer: string
  prefix: string
}

/** The largest JSON body an account endpoint takes: every field at its schema's maximum fits. */
export const ACCOUNT_BODY_LIMIT = 16 * 1024

/** The wait asked for when hashing is saturated (about one hash), and when a service does not answer. */
const SATURATED_RETRY_AFTER = 1
const UNAVAILABLE_RETRY_AFTER = 5

/** The `error` of each refusal of `authenticate` (RFC 6750 §3.1), by its code. */
const BEARER_ERRORS: Record<string, AccountErrorCode> = {
  OAUTH2_TOKEN_MISSING: 'invalid_token',
  OAUTH2_INVALID_REQUEST: 'invalid_request',
  OAUTH2_INVALID_TOKEN: 'invalid_token',
  OAUTH2_INSUFFICIENT_SCOPE: 'insufficient_scope'
}

/** The `error` of each refusal of the users API (users/users.ts), by its code; the status is its own. */
const USERS_API_ERRORS: Record<string, AccountErrorCode> = {
  OAUTH2_PASSWORD_WEAK: 'weak_password',
  OAUTH2_USERNAME_INVALID: 'invalid_username',
  OAUTH2_USER_EXISTS: 'username_taken',
  OAUTH2_USER_FIELD_INVALID: 'invalid_request'
}

/** The refusals of `authenticate` on an account endpoint, in the account endpoints' format; the challenge is in `WWW-Authenticate`. */
export const BEARER_REFUSALS = {
  400: accountError('`invalid_request`: the body or the Authorization header is malformed'),
  401: accountError('`invalid_token`: no bearer token, or one that is invalid, expired or revoked', {
    'WWW-Authenticate': header('The RFC 6750 challenge')
  }),
  403: accountError('`insufficient_scope`'),
  503: accountError('`temporarily_unavailable`: the store does not answer, or password hashing is saturated', RETRY_AFTER)
}

/** The user as the store has it now; a user removed since the token was checked is an invalid token. */
export async function currentUser (store: Store, request: FastifyRequest): Promise<User> {
  const user = await store.findUserById(request.user.id)
  if (user === null) throw new AccountError('invalid_token', 'The user no longer exists', 401)
  return user
}

/** One audit line per account event, with who and from where; never a code, a token or a password. */
export function accountAudit (request: FastifyRequest, event: string, fields: Record<string, unknown>): void {
  request.log.info({ audit: 'account', event, ...fields, clientAddress: request.ip }, `account: ${event.replaceAll('_', ' ')}`)
}

/**
 * The account endpoints (registration, e-mail verification, passwords, sessions), encapsulated as
 * the token endpoints are, beside them: JSON bodies only, and every refusal as
 * `{ error, error_description }`, without taking over the host's parsers or error handler.
 */
const accounts: FastifyPluginAsyncTypebox<AccountOptions> = async (fastify, options) => {
  fastify.removeAllContentTypeParsers()
  // Fastify's own JSON parser, whatever the host made of it: a `__proto__` key is refused.
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: ACCOUNT_BODY_LIMIT },
    fastify.getDefaultJsonParser('error', 'error'))
  fastify.addSchema(AccountErrorResponse)
  // Nothing an account endpoint answers is for a cache: it is about one user, or sets a password.
  fastify.addHook('onRequest', async (_request, reply) => { reply.header('cache-control', 'no-store') })

  fastify.setErrorHandler((error: FastifyError | AccountError | OAuthError, request, reply) => {
    let answer: AccountError | OAuthError
    if (error instanceof AccountError || error instanceof OAuthError) {
      answer = error
    } else if (typeof error.code === 'string' && Object.hasOwn(BEARER_ERRORS, error.code)) {
      // `authenticate` set the challenge already.
      answer = new AccountError(BEARER_ERRORS[error.code]!, error.message, error.statusCode)
    } else if (typeof error.code === 'string' && Object.hasOwn(USERS_API_ERRORS, error.code)) {
      answer = new AccountError(USERS_API_ERRORS[error.code]!, error.message, error.statusCode)
    } else if (error instanceof HashingSaturatedError) {
      answer = new AccountError('temporarily_unavailable', 'The server is busy verifying passwords; retry shortly', 503, { 'retry-after': String(SATURATED_RETRY_AFTER) })
    } else if (error instanceof LimitsUnavailableError) {
      request.log.error({ err: error.cause }, 'request counters do not answer')
      answer = new AccountError('temporarily_unavailable', 'Requests cannot be counted right now; retry shortly', 503, { 'retry-after': String(UNAVAILABLE_RETRY_AFTER) })
    } else if (error.statusCode === 503) {
      // The store failed, or the server is shutting down; what happened is for the log.
      request.log.warn({ err: error }, 'account endpoint unavailable')
      const retryAfter = Number((error as { headers?: Record<string, string> }).headers?.['retry-after'] ?? UNAVAILABLE_RETRY_AFTER)
      answer = new AccountError('temporarily_unavailable', 'The service is temporarily unavailable; retry shortly', 503, { 'retry-after': String(retryAfter) })
    } else if (error.validation !== undefined) {
      answer = new AccountError('invalid_request', `invalid request: ${error.message}`)
    } else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      // Content type, body size and JSON errors: the client's fault, with Fastify's status.
      answer = new AccountError('invalid_request', error.message, error.statusCode)
    } else {
      request.log.error({ err: error }, 'account endpoint failed')
      answer = new AccountError('server_error', 'The server could not handle the request', 500)
    }
    return reply.code(answer.statusCode).headers(answer.headers).send(answer.toJSON())
  })

  // `prefix` is also Fastify's registration option and already applies here.
  const shared = { ...options, prefix: '' }
  await fastify.register(sessions, shared)
  await fastify.register(passwords, shared)
  await fastify.register(register, shared)
  await fastify.register(email, shared)
}

export default accounts
