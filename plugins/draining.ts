import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/** Seconds a client is asked to wait: by then another instance, or this one restarted, answers. */
const CLOSING_RETRY_AFTER = 1

/** A request that came in while the server shuts down, on a connection that was open already. */
export class ServerClosingError extends Error {
  readonly code = 'SERVER_CLOSING'
  readonly statusCode = 503
  readonly headers = { 'retry-after': String(CLOSING_RETRY_AFTER) }

  constructor () {
    super('The server is shutting down; retry shortly')
    this.name = 'ServerClosingError'
  }
}

/**
 * Once the server starts closing, a request that still arrives (on a keep-alive connection, while
 * the requests before it finish) is refused with 503 and `Retry-After`, in the format of its route:
 * the error goes to the route's error handler. Fastify's own refusal, which the server turns off
 * (`return503OnClosing: false`), has no `Retry-After`, and answers before any error handler.
 */
async function draining (fastify: FastifyInstance): Promise<void> {
  let closing = false
  fastify.addHook('preClose', async () => {
    closing = true
    fastify.log.info('server draining: requests that still arrive are refused')
  })
  // With a callback rather than async: every request passes here, and a promise each would be waste.
  fastify.addHook('onRequest', (_request, _reply, done) => {
    done(closing ? new ServerClosingError() : undefined)
  })
}

export default fp(draining, { name: 'draining', fastify: '5.x' })
