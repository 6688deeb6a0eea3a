import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { Type } from '@sinclair/typebox'
import { SECURITY_SCHEME } from '../../schemas/bearer.js'
import { RETRY_AFTER, oauthError } from '../../schemas/oauth.js'
import { documented } from '../../schemas/responses.js'
import { RecoveryCodesResponse, TotpConfirmRequest, TotpEnrollResponse, TotpRemovalRequest } from '../../schemas/totp.js'
import { OAuthError, invalidGrant, tooManyAttempts } from '../../oauth/errors.js'
import type { EndpointOptions } from './endpoints.js'
import { noStore } from './form.js'
import { WRONG_CODE } from '../../grants/second-factor.js'

/** Far above `{ "code": "…" }` with the longest code. */
const JSON_BODY_LIMIT = 1024

/** The error code of each refusal of `authenticate`, as RFC 6750 §3.1 names it. */
const BEARER_ERRORS: Readonly<Record<string, string>> = {
  OAUTH2_TOKEN_MISSING: 'invalid_token',
  OAUTH2_INVALID_REQUEST: 'invalid_request',
  OAUTH2_INVALID_TOKEN: 'invalid_token',
  OAUTH2_INSUFFICIENT_SCOPE: 'insufficient_scope'
}

const ENABLED_ALREADY = 'A second factor is enabled already; remove it first with DELETE /totp'

/**
 * Who may call the endpoints below: the bearer of an access token of any scope. `authenticate` runs
 * as an onRequest hook, before the body is read, so that no one without a token gets a body parsed
 * and validated; the plugin documents only preHandler uses of it, so the requirement is written here.
 */
const security = [{ [SECURITY_SCHEME]: [] }]

/** What the endpoints below may answer besides their success, all `{ error, error_description }`. */
const refusals = {
  400: oauthError('`invalid_request`: the body is not JSON or not as described; `invalid_grant`: the code is wrong or was used already'),
  401: oauthError('`invalid_token`: no access token, or one that is invalid, expired or revoked; the challenge is in `WWW-Authenticate`'),
  503: oauthError('`temporarily_unavailable`: the store does not answer', RETRY_AFTER)
}

/**
 * A user's own second factor (RFC 6238): `POST /totp/enroll` starts an enrollment, `POST
 * /totp/confirm` activates it with a first code, `DELETE /totp` removes it with a current code. For
 * the bearer of an access token of the user, any scope. JSON bodies, in place of the form bodies of
 * the endpoints around them, and their errors in the same `{ error, error_description }`.
 */
const totp: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, { secondFactor, limiter }) => {
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: JSON_BODY_LIMIT }, fastify.getDefaultJsonParser('error', 'error'))

  // `authenticate`'s refusals, which a protected route of the host answers in Fastify's format, in
  // this one; its WWW-Authenticate challenge is set already. Every other error goes on to the OAuth
  // endpoints' handler, which formats it.
  fastify.setErrorHandler((error: FastifyError, _request, reply) => {
    const code = Object.hasOwn(BEARER_ERRORS, error.code) ? BEARER_ERRORS[error.code] : undefined
    if (code === undefined) throw error
    return reply.code(error.statusCode ?? 401).header('cache-control', 'no-store').send({ error: code, error_description: error.message })
  })

  fastify.post('/totp/enroll', {
    onRequest: [noStore, fastify.authenticate],
    schema: {
      security,
      summary: 'Start enrolling a second factor: a new TOTP secret for an authenticator app',
      description: 'Replaces an enrollment that waits for its first code. Nothing changes at login until `POST /totp/confirm`.',
      tags: ['totp'],
      response: {
        200: documented(TotpEnrollResponse, 'The secret, shown this once'),
        ...refusals,
        409: oauthError('`invalid_request`: the user has an active second factor already')
      }
    }
  }, async (request) => {
    const started = await secondFactor.start(request.user, Date.now())
    if (started === null) throw new OAuthError('invalid_request', ENABLED_ALREADY, 409)
    request.log.info({ audit: 'totp', userId: request.user.id, event: 'enrollment_started' }, 'second factor')
    return { secret: started.secret, otpauth_uri: started.uri }
  })

  fastify.post('/totp/confirm', {
    onRequest: [noStore, fastify.authenticate],
    schema: {
      security,
      summary: 'Activate the second factor with a first code; returns ten recovery codes, shown this once',
      description: 'From then on, a password login of the user also needs the form parameter `totp` on `POST /token`.',
      tags: ['totp'],
      consumes: ['application/json'],
      body: TotpConfirmRequest,
      response: {
        200: documented(RecoveryCodesResponse, 'The second factor is active'),
        ...refusals,
        409: oauthError('`invalid_request`: no enrollment waits for a first code')
      }
    }
  }, async (request) => {
    const confirmed = await secondFactor.confirm(request.user.id, request.body.code, Date.now())
    if (confirmed.outcome === 'not_pending') {
      throw new OAuthError('invalid_request', 'No enrollment waits for a first code: start one with POST /totp/enroll', 409)
    }
    if (confirmed.outcome === 'wrong_code') throw invalidGrant(WRONG_CODE)
    request.log.info({ audit: 'totp', userId: request.user.id, event: 'enabled' }, 'second factor')
    return { recovery_codes: confirmed.recoveryCodes }
  })

  fastify.delete('/totp', {
    onRequest: [noStore, fastify.authenticate],
    schema: {
      security,
      summary: 'Remove the second factor, with a current code or a recovery code',
      description: 'A wrong code counts as a failed login of the user, against the same limits.',
      tags: ['totp'],
      consumes: ['application/json'],
      body: TotpRemovalRequest,
      response: {
        204: Type.Null({ description: 'Removed: a password alone logs the user in again' }),
        ...refusals,
        409: oauthError('`invalid_request`: the user has no active second factor'),
        429: oauthError('`invalid_request`: too many failed logins for this user from this address', RETRY_AFTER)
      }
    }
  }, async (request, reply) => {
    const { id, username } = request.user
    // Counted before the code is checked, as a password is, so that whoever holds a stolen access
    // token cannot try every code to remove the factor.
    const retryAfter = await limiter.attempt(username, request.ip)
    if (retryAfter !== null) throw tooManyAttempts(retryAfter)
    let removed
    try {
      removed = await secondFactor.remove(id, request.body.code, Date.now())
    } catch (error) {
      await limiter.abandoned(username, request.ip).catch(() => {})
      throw error
    }
    if (removed === 'wrong_code') {
      request.log.info({ audit: 'totp', userId: id, event: 'wrong_code' }, 'second factor')
      throw invalidGrant(WRONG_CODE)
    }
    // No login happened: the attempt is taken back, and the address does not become known for the user.
    await limiter.abandoned(username, request.ip)
    if (removed === 'not_enrolled') throw new OAuthError('invalid_request', 'No second factor is enabled', 409)
    request.log.info({ audit: 'totp', userId: id, event: 'disabled' }, 'second factor')
    return await reply.code(204).send(null)
  })
}

export default totp
