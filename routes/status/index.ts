import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Status } from '../../schemas/users.js'
import { documented } from '../../schemas/responses.js'

const status: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    preHandler: fastify.authenticate,
    schema: { summary: 'Answers to any valid access token', tags: ['status'], response: { 200: documented(Status, '`ok`') } }
  }, async () => ({ status: 'ok' }))
}

export default status
