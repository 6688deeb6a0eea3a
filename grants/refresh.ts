import type { TokenRequest, TokenResponse } from '../schemas/oauth.js'
import type { Client, Store } from '../store/types.js'
import type { AccessTokenIssuer } from '../tokens/access.js'
import type { RevocationList } from '../tokens/revocations.js'
import { invalidGrant, invalidRequest, invalidScope } from '../tokens/errors.js'
import { parseScope } from '../tokens/scopes.js'
import { hashRefreshToken, newRefreshToken } from '../tokens/refresh.js'
import { tokenResponse, type GrantRequest, type Lifetimes } from './grant.js'

/** One description for every refresh token that does not refresh, so that none tells a guesser more. */
export const BAD_REFRESH_TOKEN = 'The refresh token is invalid, expired, spent or revoked'

export interface RefreshGrantServices {
  store: Store
  accessTokens: AccessTokenIssuer
  /** What this instance knows of revocations: a family revoked here is recorded there at once. */
  revocations: RevocationList
  lifetimes: Lifetimes
}

/** The parameters of the token request that the refresh grant reads. */
export type RefreshGrantParams = Pick<TokenRequest, 'refresh_token' | 'scope'>

/**
 * The refresh token grant (RFC 6749 §6) for `client`, authenticated already: spends the refresh
 * token and answers with its successor and a new access token, bound to the DPoP key `jkt` if there
 * is one, or an OAuthError. A spent token coming back after the grace revokes its family.
 */
export async function refreshGrant (
  services: RefreshGrantServices,
  request: GrantRequest,
  params: RefreshGrantParams,
  client: Client,
  jkt: string | null
): Promise<TokenResponse> {
  const { store, lifetimes } = services
  if (params.refresh_token === undefined || params.refresh_token === '') throw invalidRequest('Missing parameter: refresh_token')
  const requested = parseScope(params.scope)
  const hash = hashRefreshToken(params.refresh_token)
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
    await services.revocations.revokeFamily(family.id, Date.now())
    throw invalidGrant(BAD_REFRESH_TOKEN)
  }

  const now = Date.now()
  const next = newRefreshToken()
  const result = await store.rotateRefreshToken(hash, { hash: next.hash, createdAt: now, expiresAt: now + lifetimes.refreshToken * 1000 }, now)
  if (result.outcome === 'spent') {
    // RFC 9700 §4.14.2: a spent token coming back is theft, unless it is a second tab racing the first.
    if (now - result.spentAt > lifetimes.reuseGrace * 1000) {
      await services.revocations.revokeFamily(family.id, now)
      request.log.warn({ audit: 'refresh_reuse', familyId: family.id, userId: family.userId, clientAddress: request.ip }, 'spent refresh token reused: family revoked')
    }
    throw invalidGrant(BAD_REFRESH_TOKEN)
  }
  if (result.outcome === 'invalid') throw invalidGrant(BAD_REFRESH_TOKEN)
  // The user may have lost a scope since the login: the refresh grants no more than they have now.
  const current = family.scopes.filter(scope => user.scopes.includes(scope) && client.scopes.includes(scope))
  const granted = requested.length > 0 ? requested.filter(scope => current.includes(scope)) : current
  return tokenResponse(services, user, client, family.id, granted, next.value, jkt)
}
