import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BASIC_CHALLENGE, RETRY_AFTER, IntrospectionResponse, RevocationRequest, oauthError } from '../../schemas/oauth.js'
import { documented } from '../../schemas/responses.js'
import { CLIENT_AUTHENTICATION_FAILED, authenticateClient, clientCredentials } from '../../clients/authentication.js'
import { invalidClient } from '../../oauth/errors.js'
import { hashRefreshToken } from '../../tokens/refresh.js'
import type { EndpointOptions } from './endpoints.js'
import { FORM_BODY_LIMIT, noStore } from './form.js'

const INACTIVE: IntrospectionResponse = { active: false }

/** RFC 7662, for confidential clients (resource servers): a public client cannot prove who asks. */
const introspect: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, options) => {
  const { store, verifier, revocations } = options

  /** The user behind a token, if they still exist, are enabled and have not changed password since `tokenVersion`. */
  async function liveUser (userId: string, tokenVersion: number) {
    const user = await store.findUserById(userId)
    return user !== null && !user.disabled && user.tokenVersion === tokenVersion ? user : null
  }

  async function introspectRefreshToken (token: string, now: number): Promise<IntrospectionResponse | null> {
    const found = await store.findRefreshToken(hashRefreshToken(token))
    if (found === null) return null
    const { token: refresh, family } = found
    const live = refresh.spentAt === null && family.revokedAt === null && refresh.expiresAt > now && family.expiresAt > now
    const user = live ? await liveUser(family.userId, family.tokenVersion) : null
    if (user === null) return INACTIVE
    return {
      active: true,
      token_type: 'refresh_token',
      scope: family.scopes.join(' '),
      client_id: family.clientId,
      username: user.username,
      sub: user.id,
      iat: Math.floor(refresh.createdAt / 1000),
      exp: Math.floor(refresh.expiresAt / 1000),
      ...(family.jkt === null ? {} : { cnf: { jkt: family.jkt } })
    }
  }

  async function introspectAccessToken (token: string): Promise<IntrospectionResponse> {
    const claims = verifier.claimsOf(token)
    if (claims === null || revocations.isRevoked(claims)) return INACTIVE
    const user = await liveUser(claims.sub, claims.ver)
    if (user === null) return INACTIVE
    return {
      active: true,
      // RFC 9449 §6.2: a bound token is introspected with its type and the key it is bound to.
      token_type: claims.cnf === undefined ? 'Bearer' : 'DPoP',
      ...(claims.cnf === undefined ? {} : { cnf: { jkt: claims.cnf.jkt } }),
      scope: claims.scope,
      client_id: claims.client_id,
      username: user.username,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      jti: claims.jti,
      iat: claims.iat,
      exp: claims.exp
    }
  }

  fastify.post('/introspect', {
    bodyLimit: FORM_BODY_LIMIT,
    onRequest: noStore,
    schema: {
      summary: 'Whether a token is live, and its claims (RFC 7662)',
      tags: ['oauth2'],
      consumes: ['application/x-www-form-urlencoded'],
      body: RevocationRequest,
      response: {
        200: documented(IntrospectionResponse, 'Whether the token is live, and if so its claims'),
        400: oauthError('`invalid_request`: a parameter is missing or repeated, or the body is not a form'),
        401: oauthError('`invalid_client`: no confidential client authenticated', BASIC_CHALLENGE),
        413: oauthError('`invalid_request`: the body is too large'),
        503: oauthError('`temporarily_unavailable`: the store does not answer', RETRY_AFTER)
      }
    }
  }, async (request) => {
    const credentials = clientCredentials(request.headers.authorization, request.body)
    const client = await authenticateClient(credentials, options, request.ip)
    // A public client proves nothing of who asks; answered like any failed authentication.
    if (client.secretHash === null) throw invalidClient(CLIENT_AUTHENTICATION_FAILED, credentials.method === 'basic')
    const { token } = request.body
    return await introspectRefreshToken(token, Date.now()) ?? await introspectAccessToken(token)
  })
}

export default introspect
