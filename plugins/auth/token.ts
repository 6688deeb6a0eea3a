import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { NO_STORE, RETRY_AFTER, BASIC_CHALLENGE, TokenRequest, TokenResponse, oauthError } from '../../schemas/oauth.js'
import { documented } from '../../schemas/responses.js'
import { canonicalUsername, usernameProblem } from '../../passwords/username.js'
import { authenticateClient, clientCredentials } from '../../tokens/clients.js'
import {
  invalidGrant, invalidRequest, invalidScope, tooManyAttempts, unsupportedGrantType
} from '../../tokens/errors.js'
import { grantScopes, parseScope } from '../../tokens/scopes.js'
import { hashRefreshToken, newRefreshToken } from '../../tokens/refresh.js'
import type { Client, User } from '../../store/types.js'
import type { EndpointOptions } from './endpoints.js'
import { addSecurityScheme } from './openapi.js'
import { FORM_BODY_LIMIT, noStore } from './form.js'
import { LoginAudit } from './audit.js'
import { secondFactorRefusal } from './second-factor.js'

/** One description for an unknown user and a wrong password, so the answer tells them apart no more than the timing does. */
const BAD_CREDENTIALS = 'Invalid username or password'
const BAD_REFRESH_TOKEN = 'The refresh token is invalid, expired, spent or revoked'

const token: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, options) => {
  const { store, hasher, accessTokens, limiter, revocations, dpopProofs, scopes: catalogue, lifetimes } = options

  const logins = new LoginAudit(fastify.log)
  fastify.addHook('onClose', async () => logins.close())
  const audit = logins.attempt.bind(logins)

  /**
   * Issues an access token in the family `familyId`, which ends it if revoked, and bound to the DPoP
   * key `jkt` if there is one; `refreshToken` is the family's newest.
   */
  function respond (user: User, client: Client, familyId: string, scopes: string[], refreshToken: string, jkt: string | null): TokenResponse {
    const access = accessTokens.issue({ userId: user.id, tokenVersion: user.tokenVersion, scopes, clientId: client.id, familyId, ...(jkt === null ? {} : { jkt }) })
    return {
      access_token: access.token,
      token_type: jkt === null ? 'bearer' : 'DPoP',
      expires_in: lifetimes.accessToken,
      refresh_token: refreshToken,
      scope: scopes.join(' ')
    }
  }

  /** Ends a login: its refresh tokens in the store, and its access tokens here at once and on every instance at its next poll. */
  async function revokeFamily (familyId: string, now: number): Promise<void> {
    await store.revokeRefreshFamily(familyId, now)
    revocations.revokeFamily(familyId, now)
  }

  async function passwordGrant (request: FastifyRequest, body: TokenRequest, client: Client, jkt: string | null): Promise<TokenResponse> {
    if (body.username === undefined || body.username === '') throw invalidRequest('Missing parameter: username')
    if (body.password === undefined || body.password === '') throw invalidRequest('Missing parameter: password')
    const requested = parseScope(body.scope)
    const unknown = requested.filter(scope => !Object.hasOwn(catalogue, scope))
    if (unknown.length > 0) throw invalidScope(`Unknown scope: ${unknown.join(' ')}`)

    const username = canonicalUsername(body.username)
    // Counted as a failure before the password is checked, so that concurrent guesses cannot outrun the limit.
    const retryAfter = await limiter.attempt(username, request.ip)
    if (retryAfter !== null) {
      audit(request, username, client.id, 'rate_limited')
      throw tooManyAttempts(retryAfter)
    }
    let user: User | null
    let verified: boolean
    try {
      user = usernameProblem(username) === null ? await store.findUserByUsername(username) : null
      verified = user === null ? await hasher.verifyDummy(body.password) : await hasher.verify(user.passwordHash, body.password)
    } catch (error) {
      // The password was never checked (hashing saturated, the store failing): the attempt is not a failure.
      await limiter.abandoned(username, request.ip).catch(() => {})
      throw error
    }
    if (user === null || !verified) {
      audit(request, username, client.id, user === null ? 'unknown_user' : 'wrong_password')
      throw invalidGrant(BAD_CREDENTIALS)
    }
    // Disabled users are refused below as before, whatever their second factor; others need its code too.
    const refusal = user.disabled ? null : await secondFactorRefusal(options, request, username, user, body.totp)
    if (refusal !== null) {
      audit(request, username, client.id, refusal.outcome)
      throw refusal.error
    }
    await limiter.succeeded(username, request.ip)
    if (user.disabled) {
      audit(request, username, client.id, 'disabled')
      throw invalidGrant('The user is disabled')
    }
    // Told only after a correct password, as for a disabled user; an account without an address has none to verify.
    if (options.emailVerificationRequired && user.email !== null && !user.emailVerified) {
      audit(request, username, client.id, 'email_unverified')
      throw invalidGrant('The e-mail address is not verified')
    }
    let granted: string[]
    try {
      granted = grantScopes(requested, user.scopes.filter(scope => client.scopes.includes(scope) && Object.hasOwn(catalogue, scope)))
    } catch (error) {
      audit(request, username, client.id, 'invalid_scope')
      throw error
    }
    if (hasher.needsRehash(user.passwordHash)) {
      // The login stands even if the upgrade fails: the next login tries again.
      await hasher.hash(body.password)
        .then(passwordHash => store.updateUser(user.id, { passwordHash }))
        .catch((error: unknown) => request.log.warn({ err: error, userId: user.id }, 'password rehash failed'))
    }
    const now = Date.now()
    const familyEnd = now + lifetimes.refreshFamily * 1000
    const refresh = newRefreshToken()
    const familyId = randomUUID()
    await store.createRefreshFamily(
      {
        id: familyId,
        userId: user.id,
        clientId: client.id,
        scopes: granted,
        tokenVersion: user.tokenVersion,
        createdAt: now,
        expiresAt: familyEnd,
        // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key; a confidential
        // client's are bound to it by its authentication already.
        jkt: client.secretHash === null ? jkt : null
      },
      { hash: refresh.hash, createdAt: now, expiresAt: Math.min(now + lifetimes.refreshToken * 1000, familyEnd) }
    )
    audit(request, username, client.id, 'success')
    return respond(user, client, familyId, granted, refresh.value, jkt)
  }

  async function refreshGrant (request: FastifyRequest, body: TokenRequest, client: Client, jkt: string | null): Promise<TokenResponse> {
    if (body.refresh_token === undefined || body.refresh_token === '') throw invalidRequest('Missing parameter: refresh_token')
    const requested = parseScope(body.scope)
    const hash = hashRefreshToken(body.refresh_token)
    const found = await store.findRefreshToken(hash)
    // RFC 6749 §6: a refresh token is bound to the client it was issued to.
    if (found === null || found.family.clientId !== client.id) throw invalidGrant(BAD_REFRESH_TOKEN)
    const { family } = found
    // RFC 9449 §5: a refresh token bound to a key is refused without a proof of that key; nothing is spent.
    if (family.jkt !== null && family.jkt !== jkt) {
      throw invalidGrant(jkt === null ? 'The refresh token is bound to a DPoP key: send a DPoP proof' : 'The refresh token is bound to another DPoP key')
    }
    // RFC 6749 §6: a refresh may narrow the scope, never widen it; checked before the token is spent.
    const beyond = requested.filter(scope => !family.scopes.includes(scope))
    if (beyond.length > 0) throw invalidScope(`Scope not granted to this login: ${beyond.join(' ')}`)

    const user = await store.findUserById(family.userId)
    if (user === null || user.disabled || user.tokenVersion !== family.tokenVersion) {
      // A password change or disabling ends every login made before it.
      await revokeFamily(family.id, Date.now())
      throw invalidGrant(BAD_REFRESH_TOKEN)
    }

    const now = Date.now()
    const next = newRefreshToken()
    const result = await store.rotateRefreshToken(hash, { hash: next.hash, createdAt: now, expiresAt: now + lifetimes.refreshToken * 1000 }, now)
    if (result.outcome === 'spent') {
      // RFC 9700 §4.14.2: a spent token coming back is theft, unless it is a second tab racing the first.
      if (now - result.spentAt > lifetimes.reuseGrace * 1000) {
        await revokeFamily(family.id, now)
        request.log.warn({ audit: 'refresh_reuse', familyId: family.id, userId: family.userId, clientAddress: request.ip }, 'spent refresh token reused: family revoked')
      }
      throw invalidGrant(BAD_REFRESH_TOKEN)
    }
    if (result.outcome === 'invalid') throw invalidGrant(BAD_REFRESH_TOKEN)
    // The user may have lost a scope since the login: the refresh grants no more than they have now.
    const current = family.scopes.filter(scope => user.scopes.includes(scope) && client.scopes.includes(scope))
    const granted = requested.length > 0 ? requested.filter(scope => current.includes(scope)) : current
    return respond(user, client, family.id, granted, next.value, jkt)
  }

  fastify.post('/token', {
    bodyLimit: FORM_BODY_LIMIT,
    onRequest: noStore,
    // A host's @fastify/swagger documents the security scheme from here, where the token URL is known.
    config: { swaggerTransform: addSecurityScheme(catalogue) },
    schema: {
      summary: 'Log in with a username and password (RFC 6749 §4.3), or refresh (§6)',
      tags: ['oauth2'],
      consumes: ['application/x-www-form-urlencoded'],
      body: TokenRequest,
      response: {
        200: documented(TokenResponse, 'The tokens', NO_STORE),
        400: oauthError('`invalid_request`, `invalid_grant`, `invalid_scope`, `unsupported_grant_type`, or `invalid_dpop_proof` (RFC 9449) for a bad `DPoP` header'),
        401: oauthError('`invalid_client`: a client was named and did not authenticate', BASIC_CHALLENGE),
        413: oauthError('`invalid_request`: the body is too large'),
        429: oauthError('`invalid_request`: too many failed logins for this username or from this address', RETRY_AFTER),
        503: oauthError('`temporarily_unavailable`: password hashing is saturated, or the store or Redis does not answer', RETRY_AFTER)
      }
    }
  }, async (request) => {
    const body = request.body
    // RFC 6749 §3.1: a parameter without a value counts as omitted.
    if (body.grant_type === '') throw invalidRequest('Missing parameter: grant_type')
    if (body.grant_type !== 'password' && body.grant_type !== 'refresh_token') {
      throw unsupportedGrantType('grant_type must be password or refresh_token')
    }
    const client = await authenticateClient(clientCredentials(request.headers.authorization, body), options, request.ip)
    // Before the grant, so that a bad proof costs no password check and spends no refresh token.
    const jkt = await dpopProofs.tokenRequestKey(request)
    return body.grant_type === 'password'
      ? await passwordGrant(request, body, client, jkt)
      : await refreshGrant(request, body, client, jkt)
  })
}

export default token
