import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Status } from '../../schemas/users.js'

const status: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    preHandler: fastify.authenticate,
    schema: { summary: 'Answers to any valid access token', tags: ['status'], response: { 200: Status } }
  }, async () => ({ status: 'ok' }))
}

export default status
