import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Status } from '../../schemas/users.js'

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: { summary: 'Whether the server and its store answer', tags: ['status'], response: { 200: Status, 503: Status } }
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
