import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/** The version of the HTTP contract (docs/contract.md) that the document describes. */
const API_VERSION = '1.0.0'

/**
 * What Swagger UI's page may load: its own scripts, styles and images from /docs/static and the
 * calls it makes to this server, nothing from elsewhere. No `upgrade-insecure-requests`: served
 * over plain HTTP at any address but loopback, the page would send its own requests to https://.
 */
const DOCS_CSP = {
  'default-src': "'self'",
  'base-uri': "'self'",
  'form-action': "'self'",
  'frame-ancestors': "'none'",
  'img-src': "'self' data:",
  'object-src': "'none'",
  'script-src': "'self'",
  'script-src-attr': "'none'",
  'style-src': "'self'"
}

/**
 * The OpenAPI document at /docs/json and Swagger UI at /docs. Registered before every route, so
 * that it sees them all; the auth plugin brings the security scheme, with its token URL, and each
 * protected route its own security requirement (plugins/auth.ts).
 */
async function docs (fastify: FastifyInstance): Promise<void> {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'OAuth2 password flow',
        description: 'Log in with a username and password at POST /token, then call protected routes with the bearer token.',
        version: API_VERSION
      }
    },
    // Shared schemas appear under their `$id` (`OAuthError`), not as `def-0`.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` },
    // Fastify serves an autoloaded folder's `/` route at both `/users/me` and `/users/me/`, and
    // hands the onRoute hooks the options of the second: the document names the first, the one
    // docs/contract.md §2 names. No route of this server is declared with a trailing slash.
    transform: ({ schema, url }) => ({ schema, url: url.length > 1 && url.endsWith('/') ? url.slice(0, -1) : url })
  })
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: DOCS_CSP,
    // The standalone layout's top bar draws Swagger's logo, an SVG with an inline <style> that
    // DOCS_CSP refuses, and a box to load other documents, which DOCS_CSP would not fetch either.
    uiConfig: { layout: 'BaseLayout' }
  })
}

export default fp(docs, { name: 'docs', fastify: '5.x' })
