import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AccountError, tooManyRequests } from '../../accounts/errors.js'
import { checkPassword } from '../../users/users.js'
import { ChangePasswordRequest, NoContent, RETRY_AFTER, accountError } from '../../schemas/accounts.js'
import { ACCOUNT_BODY_LIMIT, BEARER_REFUSALS, accountAudit, currentUser, type AccountOptions } from './accounts.js'

/**
 * Setting a new password. Every new password meets the one password policy (users/users.ts
 * checkPassword), and every change raises the user's token version, which ends every login and
 * access token issued before it.
 */
const passwords: FastifyPluginAsyncTypebox<AccountOptions> = async (fastify, options) => {
  const { store, hasher, limiter } = options

  fastify.post('/password/change', {
    preHandler: fastify.authenticate,
    bodyLimit: ACCOUNT_BODY_LIMIT,
    schema: {
      summary: 'Change the password, with the current one; the user\'s other logins end',
      description: 'Every access token issued before the change is refused from then on, this one included; ' +
        'this login keeps its refresh token, which gets it a new access token at once.',
      tags: ['accounts'],
      body: ChangePasswordRequest,
      response: {
        204: NoContent,
        ...BEARER_REFUSALS,
        400: accountError('`weak_password` (the description names the rule), `invalid_grant` (the current password is wrong) or `invalid_request`'),
        429: accountError('`invalid_request`: too many wrong passwords for this user from this address', RETRY_AFTER)
      }
    }
  }, async (request, reply) => {
    const { current_password: currentPassword, new_password: newPassword } = request.body
    checkPassword(newPassword, options.passwordMinLength)
    const user = await currentUser(store, request)
    // A wrong current password is a failed login: a stolen access token must not open a way around the limits.
    const retryAfter = await limiter.attempt(user.username, request.ip)
    if (retryAfter !== null) throw tooManyRequests(retryAfter)
    let verified: boolean
    try {
      verified = await hasher.verify(user.passwordHash, currentPassword)
    } catch (error) {
      await limiter.abandoned(user.username, request.ip).catch(() => {})
      throw error
    }
    if (!verified) {
      accountAudit(request, 'password_change_refused', { userId: user.id, username: user.username })
      throw new AccountError('invalid_grant', 'The current password is wrong')
    }
    await limiter.succeeded(user.username, request.ip)
    const passwordHash = await hasher.hash(newPassword)
    // The new token version ends every other login in the same write; this one moves along with it.
    const changed = await store.updateUser(user.id, { passwordHash, revokeTokens: true, keepRefreshFamily: request.user.sessionId ?? undefined })
    if (changed === null) throw new AccountError('invalid_token', 'The user no longer exists', 401)
    options.userChanged(user.id)
    accountAudit(request, 'password_changed', { userId: user.id, username: user.username, sessionId: request.user.sessionId })
    return await reply.code(204).send(null)
  })
}

export default passwords
