import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import type { Store } from '../../store/types.js'
import type { PasswordHasher } from '../../passwords/hasher.js'
import { HashingSaturatedError } from '../../passwords/hasher.js'
import type { AccessTokenIssuer } from '../../tokens/access.js'
import type { KeyRing } from '../../tokens/keys.js'
import { OAuthError, invalidRequest, temporarilyUnavailable } from '../../tokens/errors.js'
import { OAuthErrorResponse } from '../../schemas/oauth.js'
import token from './token.js'
import jwks from './jwks.js'

export interface EndpointOptions {
  store: Store
  hasher: PasswordHasher
  accessTokens: AccessTokenIssuer
  keys: () => KeyRing
  scopes: Record<string, string>
  accessTokenTtl: number
}

/** How long a client should wait when password hashing is saturated: about one hash's time, rounded up. */
const SATURATED_RETRY_AFTER = 1

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

  await fastify.register(token, options)
  await fastify.register(jwks, options)
}

export default endpoints
