import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AccountError, tooManyRequests } from '../../accounts/errors.js'
import { checkPassword } from '../../users/users.js'
import { hashCode } from '../../accounts/codes.js'
import {
  Accepted, AccountRequest, ChangePasswordRequest, NoContent, ResetPasswordRequest, accountError
} from '../../schemas/accounts.js'
import { RETRY_AFTER } from '../../schemas/oauth.js'
import { ACCOUNT_BODY_LIMIT, BEARER_REFUSALS, accountAudit, currentUser, type AccountOptions } from './accounts.js'
import { accountOf, accountsNamed, logSent, sendCode } from './mail.js'

const INVALID_CODE = 'The code is invalid, expired or used'

/**
 * Setting a new password: changed with the current one, or reset with a code mailed to the user.
 * Every new password meets the one password policy (users/users.ts checkPassword), and every change
 * raises the user's token version, which ends every login and access token issued before it.
 */
const passwords: FastifyPluginAsyncTypebox<AccountOptions> = async (fastify, options) => {
  const { store, hasher, limiter, mailer, accountLimiter, background } = options

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

  if (mailer === null) return

  fastify.post('/password/forgot', {
    bodyLimit: ACCOUNT_BODY_LIMIT,
    schema: {
      summary: 'Ask for a code that resets the password, by username or e-mail address',
      description: 'The answer is 202 whether or not an account fits, and takes as long; the code goes out after it and works once, for 30 minutes.',
      tags: ['accounts'],
      body: AccountRequest,
      response: {
        202: Accepted,
        400: accountError('`invalid_request`: neither a username nor an e-mail address, or both'),
        429: accountError('`invalid_request`: too many requests for codes from this address', RETRY_AFTER),
        503: accountError('`temporarily_unavailable`: Redis does not answer', RETRY_AFTER)
      }
    }
  }, async (request, reply) => {
    const named = accountOf(request.body)
    const retryAfter = await accountLimiter.take('mail', request.ip)
    if (retryAfter !== null) throw tooManyRequests(retryAfter)
    const { log } = request
    // Everything that depends on whether an account fits happens after the answer, which so takes
    // as long for a known user as for an unknown one.
    background.run(async () => {
      for (const user of await accountsNamed(store, named)) {
        if (user.email === null || user.disabled || !await accountLimiter.takeMail(user.id)) continue
        await sendCode(store, mailer, options.issuer, { ...user, email: user.email }, 'reset_password')
          .then(() => logSent(log, 'reset_requested', user), (error: unknown) => logSent(log, 'reset_requested', user, error))
      }
    }, error => log.error({ err: error }, 'sending reset codes failed'))
    return await reply.code(202).send({})
  })

  fastify.post('/password/reset', {
    bodyLimit: ACCOUNT_BODY_LIMIT,
    schema: {
      summary: 'Set a new password with the code from the e-mail; every login of the user ends',
      description: 'The code also proves that the user receives mail at the address: it becomes verified.',
      tags: ['accounts'],
      body: ResetPasswordRequest,
      response: {
        204: NoContent,
        400: accountError('`weak_password` (the description names the rule), `invalid_grant` (the code is unknown, expired, used, or for an address the user no longer has) or `invalid_request`'),
        503: accountError('`temporarily_unavailable`: the store does not answer, or password hashing is saturated', RETRY_AFTER)
      }
    }
  }, async (request, reply) => {
    const { code, password } = request.body
    checkPassword(password, options.passwordMinLength)
    const hash = hashCode(code)
    // Looked at first, so that a code that cannot work costs no password hash.
    const found = await store.findOneTimeCode(hash)
    if (found === null || found.purpose !== 'reset_password' || found.usedAt !== null || found.expiresAt <= Date.now()) {
      throw new AccountError('invalid_grant', INVALID_CODE)
    }
    const passwordHash = await hasher.hash(password)
    // The code is spent, the password set and every login ended in one write, or nothing is.
    const user = await store.useOneTimeCode(hash, 'reset_password', Date.now(), { passwordHash, revokeTokens: true, emailVerified: true })
    if (user === null) throw new AccountError('invalid_grant', INVALID_CODE)
    options.userChanged(user.id)
    accountAudit(request, 'password_reset', { userId: user.id, username: user.username })
    return await reply.code(204).send(null)
  })
}

export default passwords
