import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BASIC_CHALLENGE, RETRY_AFTER, RevocationRequest, oauthError } from '../../schemas/oauth.js'
import { authenticateClient, clientCredentials } from '../../clients/authentication.js'
import { hashRefreshToken } from '../../tokens/refresh.js'
import { Type } from '@sinclair/typebox'
import type { EndpointOptions } from './endpoints.js'
import { FORM_BODY_LIMIT, noStore } from './form.js'

/**
 * RFC 7009. Answers 200 to any well-formed request from an authenticated client, whether the token
 * was known or not, so that the answer tells nothing about tokens; a token issued to another client
 * is left alone (§2.1).
 */
const revoke: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, options) => {
  const { store, verifier, revocations } = options

  fastify.post('/revoke', {
    bodyLimit: FORM_BODY_LIMIT,
    onRequest: noStore,
    schema: {
      summary: 'Revoke an access token or a refresh token (RFC 7009)',
      tags: ['oauth2'],
      consumes: ['application/x-www-form-urlencoded'],
      body: RevocationRequest,
      response: {
        200: Type.Object({}, { description: 'Revoked, or nothing to revoke' }),
        400: oauthError('`invalid_request`: a parameter is missing or repeated, or the body is not a form'),
        401: oauthError('`invalid_client`: a client was named and did not authenticate', BASIC_CHALLENGE),
        413: oauthError('`invalid_request`: the body is too large'),
        503: oauthError('`temporarily_unavailable`: the store does not answer', RETRY_AFTER)
      }
    }
  }, async (request) => {
    const client = await authenticateClient(clientCredentials(request.headers.authorization, request.body), options, request.ip)
    const { token } = request.body
    // The hint only orders the search (§2.1): both kinds are tried.
    const now = Date.now()
    const found = await store.findRefreshToken(hashRefreshToken(token))
    if (found !== null) {
      if (found.family.clientId === client.id) {
        // RFC 7009 §2.1: the access tokens of the login end with it.
        await revocations.revokeFamily(found.family.id, now)
      }
      return {}
    }
    const claims = verifier.claimsOf(token, now)
    if (claims !== null && claims.client_id === client.id) {
      await revocations.revokeAccessToken(claims.jti, claims.exp * 1000, now)
    }
    return {}
  })
}

export default revoke
