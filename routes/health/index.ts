import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Status } from '../../schemas/users.js'
import { documented } from '../../schemas/responses.js'

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: { summary: 'Whether the server and its store answer', tags: ['status'], response: { 200: documented(Status, '`ok`'), 503: documented(Status, '`unavailable`: the store does not answer') } }
  }, async (request, reply) => {
    try {
      await fastify.authStore.ping()
      return { status: 'ok' }
    } catch (error) {
      request.log.error({ err: error }, 'store does not answer')
      return reply.code(503).send({ status: 'unavailable' })
    }
  })
}

export default health
