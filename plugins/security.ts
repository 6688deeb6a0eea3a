import fp from 'fastify-plugin'
import helmet from 'helmet'
import type { FastifyInstance } from 'fastify'

/**
 * Helmet's security headers (nosniff, frame and referrer policies, ...), computed once: helmet's
 * middleware runs here against a response that only records what it sets, and every response gets
 * the same headers as one object. Running the middleware on every request was a sixth of the CPU
 * time of GET /status; setting the headers one by one, most of the rest of it.
 *
 * The JSON API loads nothing and is framed by nothing, so its Content-Security-Policy allows
 * nothing; the docs pages replace it with one Swagger UI works under (plugins/docs.ts).
 */
function securityHeaders (): { always: Record<string, string>, https: Record<string, string> } {
  const recorded: Record<string, string> = {}
  const response = {
    setHeader (name: string, value: string | number | readonly string[]) { recorded[name.toLowerCase()] = String(value) },
    removeHeader (name: string) { Reflect.deleteProperty(recorded, name.toLowerCase()) }
  }
  const middleware = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
  }) as unknown as (request: object, response: object, next: (error?: unknown) => void) => void
  middleware({}, response, error => { if (error !== undefined) throw error })
  // RFC 6797 §7.2: a host sends Strict-Transport-Security only over a secure transport.
  const { 'strict-transport-security': hsts, ...always } = recorded
  return { always, https: hsts === undefined ? {} : { 'strict-transport-security': hsts } }
}

async function security (fastify: FastifyInstance): Promise<void> {
  const { always, https } = securityHeaders()
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.headers(always)
    // `protocol` is https behind a proxy only when TRUST_PROXY lets X-Forwarded-Proto say so.
    if (request.protocol === 'https') reply.headers(https)
    done()
  })
}

export default fp(security, { name: 'security', fastify: '5.x' })
