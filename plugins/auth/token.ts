import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { NO_STORE, RETRY_AFTER, BASIC_CHALLENGE, TokenRequest, TokenResponse, oauthError } from '../../schemas/oauth.js'
import { documented } from '../../schemas/responses.js'
import { authenticateClient, clientCredentials } from '../../clients/authentication.js'
import { invalidRequest, unsupportedGrantType } from '../../oauth/errors.js'
import { LoginAudit } from '../../grants/audit.js'
import { passwordGrant } from '../../grants/password.js'
import { refreshGrant } from '../../grants/refresh.js'
import type { EndpointOptions } from './endpoints.js'
import { addSecurityScheme } from './openapi.js'
import { FORM_BODY_LIMIT, noStore } from './form.js'

/**
 * POST /token: checks the grant type, authenticates the client and its DPoP proof, and hands the
 * request to its grant (grants/), whose OAuthErrors the endpoints' error handler formats.
 */
const token: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, options) => {
  const { dpopProofs, scopes: catalogue } = options

  const audit = new LoginAudit(fastify.log)
  fastify.addHook('onClose', async () => audit.close())
  const services = { ...options, audit }

  fastify.post('/token', {
    bodyLimit: FORM_BODY_LIMIT,
    onRequest: noStore,
    // A host's @fastify/swagger documents the security scheme from here, where the token URL is known.
    config: { swaggerTransform: addSecurityScheme(catalogue) },
    schema: {
      summary: 'Log in with a username and password (RFC 6749 §4.3), or refresh (§6)',
      tags: ['oauth2'],
      consumes: ['application/x-www-form-urlencoded'],
      body: TokenRequest,
      response: {
        200: documented(TokenResponse, 'The tokens', NO_STORE),
        400: oauthError('`invalid_request`, `invalid_grant`, `invalid_scope`, `unsupported_grant_type`, or `invalid_dpop_proof` (RFC 9449) for a bad `DPoP` header'),
        401: oauthError('`invalid_client`: a client was named and did not authenticate', BASIC_CHALLENGE),
        413: oauthError('`invalid_request`: the body is too large'),
        429: oauthError('`invalid_request`: too many failed logins for this username or from this address', RETRY_AFTER),
        503: oauthError('`temporarily_unavailable`: password hashing is saturated, or the store or Redis does not answer', RETRY_AFTER)
      }
    }
  }, async (request) => {
    const body = request.body
    // RFC 6749 §3.1: a parameter without a value counts as omitted.
    if (body.grant_type === '') throw invalidRequest('Missing parameter: grant_type')
    if (body.grant_type !== 'password' && body.grant_type !== 'refresh_token') {
      throw unsupportedGrantType('grant_type must be password or refresh_token')
    }
    const client = await authenticateClient(clientCredentials(request.headers.authorization, body), options, request.ip)
    // Before the grant, so that a bad proof costs no password check and spends no refresh token.
    const jkt = await dpopProofs.tokenRequestKey(request)
    return body.grant_type === 'password'
      ? await passwordGrant(services, request, body, client, jkt)
      : await refreshGrant(services, request, body, client, jkt)
  })
}

export default token
