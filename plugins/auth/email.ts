import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AccountError, tooManyRequests } from '../../accounts/errors.js'
import { hashCode } from '../../accounts/codes.js'
import { Accepted, AccountRequest, CodeRequest, NoContent, accountError } from '../../schemas/accounts.js'
import { RETRY_AFTER } from '../../schemas/oauth.js'
import { ACCOUNT_BODY_LIMIT, accountAudit, type AccountOptions } from './accounts.js'
import { accountOf, accountsNamed, logSent, sendCode } from './mail.js'

/**
 * E-mail verification, when mail is on: a code sent to an address comes back through
 * POST /email/verify, which marks the address verified; POST /email/verify/resend sends another.
 */
const email: FastifyPluginAsyncTypebox<AccountOptions> = async (fastify, options) => {
  const { store, mailer, accountLimiter, background } = options
  if (mailer === null) return

  fastify.post('/email/verify', {
    bodyLimit: ACCOUNT_BODY_LIMIT,
    schema: {
      summary: 'Verify an e-mail address with the code sent to it',
      tags: ['accounts'],
      body: CodeRequest,
      response: {
        204: NoContent,
        400: accountError('`invalid_grant`: the code is unknown, expired, used, or for an address the user no longer has; or `invalid_request`'),
        503: accountError('`temporarily_unavailable`: the store does not answer', RETRY_AFTER)
      }
    }
  }, async (request, reply) => {
    const user = await store.useOneTimeCode(hashCode(request.body.code), 'verify_email', Date.now(), { emailVerified: true })
    if (user === null) throw new AccountError('invalid_grant', 'The code is invalid, expired or used')
    options.userChanged(user.id)
    accountAudit(request, 'email_verified', { userId: user.id, username: user.username })
    return await reply.code(204).send(null)
  })

  fastify.post('/email/verify/resend', {
    bodyLimit: ACCOUNT_BODY_LIMIT,
    schema: {
      summary: 'Send a new verification code to an account\'s unverified address',
      description: 'The answer is 202 whether or not an account fits; the code goes out after it.',
      tags: ['accounts'],
      body: AccountRequest,
      response: {
        202: Accepted,
        400: accountError('`invalid_request`: neither a username nor an e-mail address'),
        429: accountError('`invalid_request`: too many requests for codes from this address', RETRY_AFTER),
        503: accountError('`temporarily_unavailable`: Redis does not answer', RETRY_AFTER)
      }
    }
  }, async (request, reply) => {
    const named = accountOf(request.body)
    const retryAfter = await accountLimiter.take('mail', request.ip)
    if (retryAfter !== null) throw tooManyRequests(retryAfter)
    const { log } = request
    // After the answer: it takes as long whether an account fits or not.
    background.run(async () => {
      for (const user of await accountsNamed(store, named)) {
        if (user.email === null || user.emailVerified || user.disabled || !await accountLimiter.takeMail(user.id)) continue
        await sendCode(store, mailer, options.issuer, { ...user, email: user.email }, 'verify_email')
          .then(() => logSent(log, 'verification_sent', user), (error: unknown) => logSent(log, 'verification_sent', user, error))
      }
    }, error => log.error({ err: error }, 'sending verification codes failed'))
    return await reply.code(202).send({})
  })
}

export default email
