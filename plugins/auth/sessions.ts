import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AccountError } from '../../accounts/errors.js'
import { LogoutRequest, NoContent, SessionParams, Sessions, accountError } from '../../schemas/accounts.js'
import { ACCOUNT_BODY_LIMIT, BEARER_REFUSALS, accountAudit, type AccountOptions } from './accounts.js'

/**
 * A user's logins, each a refresh family: listed, ended one by one, or all at once. Ending a login
 * revokes its family, and with it the access tokens issued in it (their `sid`), here at once and on
 * every instance at its next poll of the store.
 */
const sessions: FastifyPluginAsyncTypebox<AccountOptions> = async (fastify, options) => {
  const { store, revocations } = options

  fastify.get('/sessions', {
    preHandler: fastify.authenticate,
    schema: {
      summary: 'List the user\'s live logins',
      tags: ['accounts'],
      response: { 200: Sessions, ...BEARER_REFUSALS }
    }
  }, async (request) => {
    const { id, sessionId } = request.user
    return (await store.listSessions(id, Date.now())).map(session => ({
      id: session.id,
      client_id: session.clientId,
      created_at: new Date(session.createdAt).toISOString(),
      last_used_at: new Date(session.lastUsedAt).toISOString(),
      current: session.id === sessionId
    }))
  })

  fastify.delete('/sessions/:id', {
    preHandler: fastify.authenticate,
    schema: {
      summary: 'End one of the user\'s logins and its access tokens',
      tags: ['accounts'],
      params: SessionParams,
      response: {
        204: NoContent,
        ...BEARER_REFUSALS,
        404: accountError('`not_found`: the user has no live login of this id')
      }
    }
  }, async (request, reply) => {
    const now = Date.now()
    // Looked up among the user's own, so that another user's login is not found, as an unknown one.
    const session = (await store.listSessions(request.user.id, now)).find(candidate => candidate.id === request.params.id)
    if (session === undefined) throw new AccountError('not_found', 'The user has no live login of this id', 404)
    await revocations.revokeFamily(session.id, now)
    accountAudit(request, 'session_ended', { userId: request.user.id, sessionId: session.id, clientId: session.clientId })
    return await reply.code(204).send(null)
  })

  fastify.post('/logout', {
    preHandler: fastify.authenticate,
    bodyLimit: ACCOUNT_BODY_LIMIT,
    // The body is optional: none is `{}`, which the schema then checks as any other.
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      summary: 'End this login, or with `{ "all": true }` every login of the user',
      tags: ['accounts'],
      body: LogoutRequest,
      response: { 204: NoContent, ...BEARER_REFUSALS }
    }
  }, async (request, reply) => {
    const { id: userId, sessionId, tokenId, expiresAt, clientId } = request.user
    const now = Date.now()
    if (request.body?.all === true) {
      // A new token version ends every login and every access token of the user, those issued
      // before logins were bound to their family included.
      await store.updateUser(userId, { revokeTokens: true })
      options.userChanged(userId)
      accountAudit(request, 'logged_out_everywhere', { userId })
    } else if (sessionId !== null) {
      await revocations.revokeFamily(sessionId, now)
      accountAudit(request, 'session_ended', { userId, sessionId, clientId })
    } else {
      // A token issued before logins were bound to their family ends on its own.
      await revocations.revokeAccessToken(tokenId, expiresAt * 1000, now)
      accountAudit(request, 'session_ended', { userId, clientId })
    }
    return await reply.code(204).send(null)
  })
}

export default sessions
