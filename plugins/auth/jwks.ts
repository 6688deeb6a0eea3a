import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Jwks } from '../../schemas/oauth.js'
import { documented } from '../../schemas/responses.js'
import type { EndpointOptions } from './endpoints.js'

/** The public keys that verify access tokens (RFC 7517), for resource servers that verify on their own. */
const jwks: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, { keys }) => {
  fastify.get('/.well-known/jwks.json', {
    schema: {
      summary: 'The public keys that verify access tokens',
      tags: ['oauth2'],
      response: { 200: documented(Jwks, 'The JSON Web Key Set (RFC 7517)') }
    }
  }, async (_request, reply) => {
    // Short enough that a rotated key reaches verifiers soon after it starts signing.
    reply.header('cache-control', 'public, max-age=60')
    return keys().jwks
  })
}

export default jwks
