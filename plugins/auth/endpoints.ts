import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import type { Store } from '../../store/types.js'
import type { PasswordHasher } from '../../passwords/hasher.js'
import { HashingSaturatedError } from '../../passwords/hasher.js'
import type { AccessTokenIssuer, AccessTokenVerifier } from '../../tokens/access.js'
import type { KeyRing } from '../../tokens/keys.js'
import { LimitsUnavailableError, type LoginLimiter } from '../../limits/login.js'
import type { RevocationList } from '../../tokens/revocations.js'
import type { DPoPProofs } from './dpop.js'
import type { SecondFactor } from '../../users/second-factor.js'
import type { Lifetimes } from '../../grants/grant.js'
import { OAuthError, invalidRequest, temporarilyUnavailable } from '../../oauth/errors.js'
import { OAuthErrorResponse } from '../../schemas/oauth.js'
import token from './token.js'
import revoke from './revoke.js'
import introspect from './introspect.js'
import jwks from './jwks.js'
import metadata from './metadata.js'
import totp from './totp.js'

/** What every endpoint shares: the services the auth plugin built, and its settings. */
export interface EndpointOptions {
  store: Store
  hasher: PasswordHasher
  accessTokens: AccessTokenIssuer
  verifier: AccessTokenVerifier
  limiter: LoginLimiter
  /** What this instance knows of revocations: one made here is recorded there at once. */
  revocations: RevocationList
  /** Checks the DPoP proofs of token requests. */
  dpopProofs: DPoPProofs
  /** Users' TOTP second factors (RFC 6238). */
  secondFactor: SecondFactor
  keys: () => KeyRing
  scopes: Record<string, string>
  issuer: string
  prefix: string
  lifetimes: Lifetimes
  /** Whether a user whose e-mail address is not verified is refused a login. */
  emailVerificationRequired: boolean
}

/** How long a client should wait when password hashing is saturated: about one hash's time, rounded up. */
const SATURATED_RETRY_AFTER = 1
/** How long a client should wait when the failed-login counters (Redis) do not answer: about a reconnection's time. */
const LIMITS_RETRY_AFTER = 5

/** The wait asked for by an error that says nothing itself. */
const UNAVAILABLE_RETRY_AFTER = 5

/** The `Retry-After` seconds that an error carries in its headers, if it carries any. */
function retryAfter (error: Error): number | undefined {
  const headers = 'headers' in error ? error.headers : undefined
  const value = typeof headers === 'object' && headers !== null && 'retry-after' in headers ? Number(headers['retry-after']) : NaN
  return Number.isInteger(value) && value >= 0 ? value : undefined
}

/**
 * The OAuth endpoints, encapsulated: their form parser and their RFC 6749 error format stay here
 * and never take over the host's JSON parsing or error handler.
 */
const endpoints: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, options) => {
  // RFC 6749 §3.2: the token endpoint takes form bodies only; any other type is refused below.
  fastify.removeAllContentTypeParsers()
  await fastify.register(formbody)
  fastify.addSchema(OAuthErrorResponse)

  fastify.setErrorHandler((error: FastifyError | OAuthError, request, reply) => {
    let oauthError: OAuthError
    if (error instanceof OAuthError) {
      oauthError = error
    } else if (error instanceof HashingSaturatedError) {
      oauthError = temporarilyUnavailable('The server is busy verifying passwords; retry shortly', SATURATED_RETRY_AFTER)
    } else if (error instanceof LimitsUnavailableError) {
      request.log.error({ err: error.cause }, 'failed-login counters do not answer')
      oauthError = temporarilyUnavailable('Login attempts cannot be counted right now; retry shortly', LIMITS_RETRY_AFTER)
    } else if (error.statusCode === 503) {
      // The store failed (StoreUnavailableError), or the server is shutting down: the client retries.
      // Its description is the same whatever the error says, which is for the log.
      request.log.warn({ err: error }, 'token endpoint unavailable')
      oauthError = temporarilyUnavailable('The service is temporarily unavailable; retry shortly', retryAfter(error) ?? UNAVAILABLE_RETRY_AFTER)
    } else if (error.validation !== undefined) {
      oauthError = invalidRequest(`invalid request parameters: ${error.message}`)
    } else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      // Content type, body size and parse errors: the client's fault, in the contract's format.
      oauthError = new OAuthError('invalid_request', error.message, error.statusCode === 413 ? 413 : 400)
    } else {
      request.log.error({ err: error }, 'token endpoint failed')
      return reply.code(500).header('cache-control', 'no-store')
        .send({ error: 'server_error', error_description: 'The server could not handle the request' })
    }
    return reply.code(oauthError.statusCode).headers(oauthError.headers).header('cache-control', 'no-store')
      .send(oauthError.toJSON())
  })

  // `prefix` is also Fastify's registration option and already applies here: handed on, it would
  // put the endpoints under it twice (/auth/auth/token).
  const shared = { ...options, prefix: '' }
  await fastify.register(token, shared)
  await fastify.register(revoke, shared)
  await fastify.register(introspect, shared)
  await fastify.register(jwks, shared)
  await fastify.register(metadata, shared)
  // JSON endpoints, in a context of their own that takes JSON in place of forms.
  await fastify.register(totp, shared)
}

export default endpoints
