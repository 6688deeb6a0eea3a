import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'

/**
 * Helmet's security headers on every response (nosniff, frame and referrer policies, ...). The
 * JSON API loads nothing and is framed by nothing, so its Content-Security-Policy allows nothing;
 * the docs pages replace it with one Swagger UI works under (plugins/docs.ts).
 */
async function security (fastify: FastifyInstance): Promise<void> {
  await fastify.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
  })
}

export default fp(security, { name: 'security', fastify: '5.x' })
