import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Health } from '../../schemas/users.js'
import { documented } from '../../schemas/responses.js'

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: {
      summary: 'Whether the server, its store and Redis (when used) answer',
      tags: ['status'],
      response: {
        200: documented(Health, '`ok`'),
        503: documented(Health, '`unavailable`, and which of the store and Redis does not answer')
      }
    }
  }, async (request, reply) => {
    const failures = await fastify.authHealth()
    if (failures.length === 0) return { status: 'ok' }
    for (const { service, error } of failures) request.log.error({ err: error, service }, `${service} does not answer`)
    // The names only: what went wrong, with its addresses, is for the log.
    return reply.code(503).send({ status: 'unavailable', unavailable: failures.map(failure => failure.service) })
  })
}

export default health
