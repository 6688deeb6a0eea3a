import { randomUUID } from 'node:crypto'
import type { TokenRequest, TokenResponse } from '../schemas/oauth.js'
import type { Client, Store, User } from '../store/types.js'
import type { PasswordHasher } from '../passwords/hasher.js'
import { canonicalUsername, usernameProblem } from '../passwords/username.js'
import type { LoginLimiter } from '../limits/login.js'
import type { SecondFactor } from '../users/second-factor.js'
import type { AccessTokenIssuer } from '../tokens/access.js'
import { invalidGrant, invalidRequest, invalidScope, tooManyAttempts } from '../oauth/errors.js'
import { grantScopes, parseScope } from '../tokens/scopes.js'
import { newRefreshToken } from '../tokens/refresh.js'
import type { LoginAudit } from './audit.js'
import { secondFactorRefusal } from './second-factor.js'
import { tokenResponse, type GrantRequest, type Lifetimes } from './grant.js'

/** One description for an unknown user and a wrong password, so the answer tells them apart no more than the timing does. */
export const BAD_CREDENTIALS = 'Invalid username or password'

export interface PasswordGrantServices {
  store: Store
  hasher: PasswordHasher
  accessTokens: AccessTokenIssuer
  limiter: LoginLimiter
  secondFactor: SecondFactor
  audit: LoginAudit
  /** The scope catalogue, name to description: no other scope is granted. */
  scopes: Record<string, string>
  lifetimes: Lifetimes
  /** Whether a user whose e-mail address is not verified is refused a login. */
  emailVerificationRequired: boolean
}

/** The parameters of the token request that the password grant reads. */
export type PasswordGrantParams = Pick<TokenRequest, 'username' | 'password' | 'scope' | 'totp'>

/**
 * The resource owner password credentials grant (RFC 6749 §4.3) for `client`, authenticated already:
 * a new login (refresh family) and its tokens, bound to the DPoP key `jkt` if there is one, or an
 * OAuthError. Past the parameter checks, each refusal and each success is a line of `services.audit`.
 */
export async function passwordGrant (
  services: PasswordGrantServices,
  request: GrantRequest,
  params: PasswordGrantParams,
  client: Client,
  jkt: string | null
): Promise<TokenResponse> {
  const { store, hasher, limiter, audit, scopes: catalogue, lifetimes } = services
  if (params.username === undefined || params.username === '') throw invalidRequest('Missing parameter: username')
  if (params.password === undefined || params.password === '') throw invalidRequest('Missing parameter: password')
  const requested = parseScope(params.scope)
  const unknown = requested.filter(scope => !Object.hasOwn(catalogue, scope))
  if (unknown.length > 0) throw invalidScope(`Unknown scope: ${unknown.join(' ')}`)

  const username = canonicalUsername(params.username)
  // Counted as a failure before the password is checked, so that concurrent guesses cannot outrun the limit.
  const retryAfter = await limiter.attempt(username, request.ip)
  if (retryAfter !== null) {
    audit.attempt(request, username, client.id, 'rate_limited')
    throw tooManyAttempts(retryAfter)
  }
  let user: User | null
  let verified: boolean
  try {
    user = usernameProblem(username) === null ? await store.findUserByUsername(username) : null
    verified = user === null ? await hasher.verifyDummy(params.password) : await hasher.verify(user.passwordHash, params.password)
  } catch (error) {
    // The password was never checked (hashing saturated, the store failing): the attempt is not a failure.
    await limiter.abandoned(username, request.ip).catch(() => {})
    throw error
  }
  if (user === null || !verified) {
    audit.attempt(request, username, client.id, user === null ? 'unknown_user' : 'wrong_password')
    throw invalidGrant(BAD_CREDENTIALS)
  }
  // Disabled users are refused below as before, whatever their second factor; others need its code too.
  const refusal = user.disabled ? null : await secondFactorRefusal(services, request, username, user, params.totp)
  if (refusal !== null) {
    audit.attempt(request, username, client.id, refusal.outcome)
    throw refusal.error
  }
  await limiter.succeeded(username, request.ip)
  if (user.disabled) {
    audit.attempt(request, username, client.id, 'disabled')
    throw invalidGrant('The user is disabled')
  }
  // Told only after a correct password, as for a disabled user; an account without an address has none to verify.
  if (services.emailVerificationRequired && user.email !== null && !user.emailVerified) {
    audit.attempt(request, username, client.id, 'email_unverified')
    throw invalidGrant('The e-mail address is not verified')
  }
  let granted: string[]
  try {
    granted = grantScopes(requested, user.scopes.filter(scope => client.scopes.includes(scope) && Object.hasOwn(catalogue, scope)))
  } catch (error) {
    audit.attempt(request, username, client.id, 'invalid_scope')
    throw error
  }
  if (hasher.needsRehash(user.passwordHash)) {
    // The login stands even if the upgrade fails: the next login tries again.
    await hasher.hash(params.password)
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
  audit.attempt(request, username, client.id, 'success')
  return tokenResponse(services, user, client, familyId, granted, refresh.value, jkt)
}
