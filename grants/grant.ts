import type { TokenResponse } from '../schemas/oauth.js'
import type { Client, User } from '../store/types.js'
import type { AccessTokenIssuer } from '../tokens/access.js'

// What the grants of the token endpoint share (RFC 6749 §4.3, §6; docs/contract.md §3).

/** Where a grant writes its lines; a pino logger, as Fastify's `request.log`, is one. */
export interface Logger {
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
}

/**
 * What a grant needs of the HTTP request it answers, and no more, so that it runs without a server:
 * the client address, which failed logins are counted against and audit lines name, and the
 * request's logger. A FastifyRequest is one.
 */
export interface GrantRequest {
  ip: string
  log: Logger
}

/** How long tokens live, in seconds. */
export interface Lifetimes {
  accessToken: number
  /** Idle: each refresh token lives this long after it was issued. */
  refreshToken: number
  /** A login's refresh tokens never outlive this, counted from the login. */
  refreshFamily: number
  /** How long after being spent a refresh token coming back is taken for a second tab, not theft. */
  reuseGrace: number
}

/**
 * The answer to a grant: an access token issued in the family `familyId`, which ends it if revoked,
 * and bound to the DPoP key `jkt` if there is one (RFC 9449 §5); `refreshToken` is the family's newest.
 */
export function tokenResponse (
  { accessTokens, lifetimes }: { accessTokens: AccessTokenIssuer, lifetimes: Pick<Lifetimes, 'accessToken'> },
  user: User,
  client: Client,
  familyId: string,
  scopes: string[],
  refreshToken: string,
  jkt: string | null
): TokenResponse {
  const access = accessTokens.issue({ userId: user.id, tokenVersion: user.tokenVersion, scopes, clientId: client.id, familyId, ...(jkt === null ? {} : { jkt }) })
  return {
    access_token: access.token,
    token_type: jkt === null ? 'bearer' : 'DPoP',
    expires_in: lifetimes.accessToken,
    refresh_token: refreshToken,
    scope: scopes.join(' ')
  }
}
