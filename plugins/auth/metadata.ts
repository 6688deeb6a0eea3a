import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServerMetadata } from '../../schemas/oauth.js'
import { documented } from '../../schemas/responses.js'
import type { EndpointOptions } from './endpoints.js'
import { DPOP_ALGORITHMS } from '../../tokens/dpop.js'

/** RFC 8414: what this server is and can do, for clients that configure themselves. */
const metadata: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, { issuer, scopes }) => {
  // The prefix the endpoints are registered under, as Fastify applied it.
  const base = `${issuer.replace(/\/$/, '')}${fastify.prefix}`
  const document = {
    issuer,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    revocation_endpoint: `${base}/revoke`,
    introspection_endpoint: `${base}/introspect`,
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: [],
    scopes_supported: Object.keys(scopes),
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    // RFC 9449 §5.1: the token endpoint and the protected routes take DPoP proofs signed with these.
    dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS]
  }

  fastify.get('/.well-known/oauth-authorization-server', {
    schema: {
      summary: 'Authorization server metadata (RFC 8414)',
      tags: ['oauth2'],
      response: { 200: documented(ServerMetadata, 'The metadata document') }
    }
  }, async () => document)
}

export default metadata
