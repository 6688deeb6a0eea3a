import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Items } from '../../../../schemas/users.js'
import { documented } from '../../../../schemas/responses.js'

const items: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    preHandler: fastify.authenticate,
    config: { scopes: ['me', 'items'] },
    schema: { summary: 'The current user\'s items', tags: ['users'], response: { 200: documented(Items, 'The items the user owns') } }
  }, async (request) => [{ item_id: 'Foo', owner: request.user.username }])
}

export default items
