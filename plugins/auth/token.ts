import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { TokenRequest, TokenResponse } from '../../schemas/oauth.js'
import { canonicalUsername, usernameProblem } from '../../passwords/username.js'
import { FIRST_PARTY, clientCredentials, type ClientCredentials } from '../../tokens/clients.js'
import { invalidClient, invalidGrant, invalidRequest, invalidScope, unsupportedGrantType } from '../../tokens/errors.js'
import { grantScopes, parseScope } from '../../tokens/scopes.js'
import type { EndpointOptions } from './endpoints.js'

/** One description for an unknown user and a wrong password, so the answer tells them apart no more than the timing does. */
const BAD_CREDENTIALS = 'Invalid username or password'

type LoginOutcome = 'success' | 'unknown_user' | 'wrong_password' | 'disabled' | 'invalid_scope'

const token: FastifyPluginAsyncTypebox<EndpointOptions> = async (fastify, options) => {
  const { store, hasher, accessTokens, scopes: catalogue } = options

  /** Resolves the client; until clients are registered, only the built-in public one exists. */
  function authenticateClient (credentials: ClientCredentials): string {
    if (credentials.clientId === FIRST_PARTY && credentials.secret === null) return FIRST_PARTY
    throw invalidClient('Client authentication failed', credentials.method === 'basic')
  }

  function audit (request: FastifyRequest, username: string, clientId: string, outcome: LoginOutcome): void {
    request.log.info({ audit: 'login', username, clientAddress: request.ip, clientId, outcome }, 'login attempt')
  }

  fastify.post('/token', {
    onRequest: async (_request, reply) => {
      // RFC 6749 §5.1: nothing a token endpoint answers may be cached, errors included.
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    },
    schema: {
      summary: 'Log in with a username and password (RFC 6749 §4.3)',
      tags: ['oauth2'],
      consumes: ['application/x-www-form-urlencoded'],
      body: TokenRequest,
      response: {
        200: TokenResponse,
        400: { $ref: 'OAuthError#' },
        401: { $ref: 'OAuthError#' }
      }
    }
  }, async (request) => {
    const body = request.body
    if (body.grant_type !== 'password') {
      throw unsupportedGrantType('grant_type must be password')
    }
    const clientId = authenticateClient(clientCredentials(request.headers.authorization, body))
    if (body.username === undefined || body.username === '') throw invalidRequest('Missing parameter: username')
    if (body.password === undefined || body.password === '') throw invalidRequest('Missing parameter: password')
    const requested = parseScope(body.scope)
    const unknown = requested.filter(scope => !Object.hasOwn(catalogue, scope))
    if (unknown.length > 0) throw invalidScope(`Unknown scope: ${unknown.join(' ')}`)

    const username = canonicalUsername(body.username)
    const user = usernameProblem(username) === null ? await store.findUserByUsername(username) : null
    if (user === null) {
      await hasher.verifyDummy(body.password)
      audit(request, username, clientId, 'unknown_user')
      throw invalidGrant(BAD_CREDENTIALS)
    }
    if (!await hasher.verify(user.passwordHash, body.password)) {
      audit(request, username, clientId, 'wrong_password')
      throw invalidGrant(BAD_CREDENTIALS)
    }
    if (user.disabled) {
      audit(request, username, clientId, 'disabled')
      throw invalidGrant('The user is disabled')
    }
    let granted: string[]
    try {
      granted = grantScopes(requested, user.scopes.filter(scope => Object.hasOwn(catalogue, scope)))
    } catch (error) {
      audit(request, username, clientId, 'invalid_scope')
      throw error
    }
    if (hasher.needsRehash(user.passwordHash)) {
      // The login stands even if the upgrade fails: the next login tries again.
      await hasher.hash(body.password)
        .then(passwordHash => store.updateUser(user.id, { passwordHash }))
        .catch((error: unknown) => request.log.warn({ err: error, userId: user.id }, 'password rehash failed'))
    }
    const access = accessTokens.issue({ userId: user.id, tokenVersion: user.tokenVersion, scopes: granted, clientId })
    audit(request, username, clientId, 'success')
    return {
      access_token: access.token,
      token_type: 'bearer' as const,
      expires_in: options.accessTokenTtl,
      scope: granted.join(' ')
    }
  })
}

export default token
