import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { SECURITY_SCHEME, securityScheme } from './auth.js'

export interface DocsOptions {
  scopes: Record<string, string>
}

/** The version of the HTTP contract (../shared/SPEC.md) that the document describes. */
const API_VERSION = '1.0.0'

/**
 * The OpenAPI document at /docs/json and Swagger UI at /docs. Registered before every route, so
 * that it sees them all; each protected route brings its own security requirement (plugins/auth.ts).
 */
async function docs (fastify: FastifyInstance, options: DocsOptions): Promise<void> {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'OAuth2 password flow',
        description: 'Log in with a username and password at POST /token, then call protected routes with the bearer token.',
        version: API_VERSION
      },
      components: { securitySchemes: { [SECURITY_SCHEME]: securityScheme(options.scopes) } }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}

export default fp(docs, { name: 'docs', fastify: '5.x' })
