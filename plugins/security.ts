import fp from 'fastify-plugin'
import helmet from 'helmet'
import type { FastifyInstance } from 'fastify'

/**
 * Helmet's security headers on every response (nosniff, frame and referrer policies, ...). The
 * JSON API loads nothing and is framed by nothing, so its Content-Security-Policy allows nothing;
 * the docs pages replace it with one Swagger UI works under (plugins/docs.ts).
 *
 * helmet's middleware is built once here. @fastify/helmet builds it again on every request, which
 * was a sixth of the server's CPU time on GET /status (profiled with the benchmark's warm run).
 */
async function security (fastify: FastifyInstance): Promise<void> {
  const headers = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
  })
  fastify.addHook('onRequest', (request, reply, done) => {
    headers(request.raw, reply.raw, (error?: unknown) => { done(error instanceof Error ? error : undefined) })
  })
}

export default fp(security, { name: 'security', fastify: '5.x' })
