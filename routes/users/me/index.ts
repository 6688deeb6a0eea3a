import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Me } from '../../../schemas/users.js'
import { documented } from '../../../schemas/responses.js'

const me: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    preHandler: fastify.authenticate,
    config: { scopes: ['me'] },
    schema: { summary: 'The current user', tags: ['users'], response: { 200: documented(Me, 'The user the access token was issued to') } }
  }, async (request) => {
    const { username, email, fullName, scopes } = request.user
    // `authenticate` refuses disabled users, so whoever gets here is enabled.
    return { username, email, full_name: fullName, disabled: false, scopes }
  })
}

export default me
