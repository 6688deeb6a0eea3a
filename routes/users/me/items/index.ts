import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Items } from '../../../../schemas/users.js'

const items: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    preHandler: fastify.authenticate,
    config: { scopes: ['me', 'items'] },
    schema: { summary: 'The current user\'s items', tags: ['users'], response: { 200: Items } }
  }, async (request) => [{ item_id: 'Foo', owner: request.user.username }])
}

export default items
