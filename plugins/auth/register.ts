import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AccountError, tooManyRequests } from '../../accounts/errors.js'
import { MailUnavailableError } from '../../accounts/mailer.js'
import { RegisterRequest, RegisteredUser, accountError } from '../../schemas/accounts.js'
import { RETRY_AFTER } from '../../schemas/oauth.js'
import { ACCOUNT_BODY_LIMIT, accountAudit, type AccountOptions } from './accounts.js'
import { sendCode } from './mail.js'

/**
 * POST /register, when registration is open: a user made by the users API's own rules (username,
 * password policy, fields), with the scopes registration grants. With mail on, the new address
 * gets a verification code; a server that does not take it undoes the registration.
 */
const register: FastifyPluginAsyncTypebox<AccountOptions> = async (fastify, options) => {
  const { store, users, accountLimiter, mailer, registration } = options
  if (registration === null) return

  fastify.post('/register', {
    bodyLimit: ACCOUNT_BODY_LIMIT,
    schema: {
      summary: 'Create an account',
      description: mailer === null ? undefined : 'A code to verify the e-mail address goes out to it (POST /email/verify).',
      tags: ['accounts'],
      body: RegisterRequest,
      response: {
        201: RegisteredUser,
        400: accountError('`invalid_username`, `weak_password` (the description names the rule) or `invalid_request`'),
        409: accountError('`username_taken`'),
        413: accountError('`invalid_request`: the body is too large'),
        429: accountError('`invalid_request`: too many registrations from this address', RETRY_AFTER),
        503: accountError('`temporarily_unavailable`: the store, Redis or the SMTP server does not answer, or password hashing is saturated; nothing was created', RETRY_AFTER)
      }
    }
  }, async (request, reply) => {
    const retryAfter = await accountLimiter.take('register', request.ip)
    if (retryAfter !== null) throw tooManyRequests(retryAfter)
    const { username, password, email, full_name: fullName } = request.body
    if (options.emailVerification === 'required' && email === undefined) {
      throw new AccountError('invalid_request', 'An e-mail address is required: logging in needs it verified')
    }
    const created = await users.create({ username, password, email, fullName, scopes: registration.scopes })
    if (mailer !== null && created.email !== null) {
      try {
        await sendCode(store, mailer, options.issuer, { id: created.id, username: created.username, email: created.email }, 'verify_email')
      } catch (error) {
        // Nothing half-done: without its code, the account goes (and the code with it).
        await store.removeUser(created.id).catch((removal: unknown) => request.log.error({ err: removal, userId: created.id }, 'an unfinished registration could not be undone'))
        if (!(error instanceof MailUnavailableError)) throw error
        request.log.warn({ err: error.cause }, 'the SMTP server did not take a verification e-mail: registration undone')
        throw new AccountError('temporarily_unavailable', 'The e-mail could not be sent; retry shortly', 503, { 'retry-after': '5' })
      }
    }
    accountAudit(request, 'registered', { userId: created.id, username: created.username })
    return await reply.code(201).send({
      username: created.username,
      email: created.email,
      full_name: created.fullName,
      disabled: created.disabled,
      scopes: created.scopes
    })
  })
}

export default register
