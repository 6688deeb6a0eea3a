import type { TokenRequest, TokenResponse } from '../schemas/oauth.js'
import type { Client, RefreshFamily, Store, UnmetTerm } from '../store/types.js'
import type { AccessTokenIssuer } from '../tokens/access.js'
import type { RevocationList } from '../tokens/revocations.js'
import { invalidGrant, invalidRequest, invalidScope, type OAuthError } from '../oauth/errors.js'
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
  const now = Date.now()
  const next = newRefreshToken()
  // One store call reads the token, its family and its user, checks the terms and rotates.
  const result = await store.rotateRefreshToken(
    hashRefreshToken(params.refresh_token),
    { hash: next.hash, createdAt: now, expiresAt: now + lifetimes.refreshToken * 1000 },
    now,
    { clientId: client.id, jkt, scopes: requested }
  )
  if (result.outcome === 'refused') throw await refusal(services, result.family, result.unmet, requested, jkt)
  if (result.outcome === 'spent') {
    // RFC 9700 §4.14.2: a spent token coming back is theft, unless it is a second tab racing the first.
    if (now - result.spentAt > lifetimes.reuseGrace * 1000) {
      await services.revocations.revokeFamily(result.family.id, now)
      request.log.warn({ audit: 'refresh_reuse', familyId: result.family.id, userId: result.family.userId, clientAddress: request.ip }, 'spent refresh token reused: family revoked')
    }
    throw invalidGrant(BAD_REFRESH_TOKEN)
  }
  if (result.outcome === 'invalid') throw invalidGrant(BAD_REFRESH_TOKEN)
  const { family, user } = result
  // The user may have lost a scope since the login: the refresh grants no more than they have now.
  const current = family.scopes.filter(scope => user.scopes.includes(scope) && client.scopes.includes(scope))
  const granted = requested.length > 0 ? requested.filter(scope => current.includes(scope)) : current
  return tokenResponse(services, user, client, family.id, granted, next.value, jkt)
}

/** The error for a refresh whose family fails a term; nothing was spent. */
async function refusal (
  services: RefreshGrantServices,
  family: RefreshFamily,
  unmet: UnmetTerm,
  requested: readonly string[],
  jkt: string | null
): Promise<OAuthError> {
  switch (unmet) {
    // RFC 6749 §6: a refresh token is bound to the client it was issued to.
    case 'client': return invalidGrant(BAD_REFRESH_TOKEN)
    // RFC 9449 §5: a refresh token bound to a key is refused without a proof of that key.
    case 'key': return invalidGrant(jkt === null ? 'The refresh token is bound to a DPoP key: send a DPoP proof' : 'The refresh token is bound to another DPoP key')
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    case 'scope': return invalidScope(`Scope not granted to this login: ${requested.filter(scope => !family.scopes.includes(scope)).join(' ')}`)
    case 'user':
      // A password change or disabling ends every login made before it.
      await services.revocations.revokeFamily(family.id, Date.now())
      return invalidGrant(BAD_REFRESH_TOKEN)
  }
}
