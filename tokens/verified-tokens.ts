import { ExpiringCache } from './cache.js'
import type { AccessTokenClaims } from './access.js'

/** The characters of a signature's end a token is found by: 192 bits, more than any chance collision needs. */
const KEY_LENGTH = 32

export interface VerifiedToken {
  claims: AccessTokenClaims
  /** The claims' scopes, split once. */
  scopes: readonly string[]
}

/**
 * The access tokens `authenticate` verified, with their claims, each until its `exp` or for `ttl`
 * milliseconds if that comes first. Found by the end of their signature rather than by the whole
 * token: each request's header is a new string, and hashing all of a 600-character token was most of
 * the cost of a lookup. A hit is then compared in full; only verified tokens are added, and without
 * the signing key nobody can make one whose signature ends like another's.
 */
export class VerifiedTokens {
  readonly #entries: ExpiringCache<string, { token: string, verified: VerifiedToken }>

  constructor (ttl: number, maxEntries?: number) {
    this.#entries = new ExpiringCache(ttl, maxEntries)
  }

  get (token: string, now = Date.now()): VerifiedToken | undefined {
    const entry = this.#entries.get(token.slice(-KEY_LENGTH), now)?.value
    return entry !== undefined && entry.token === token ? entry.verified : undefined
  }

  set (token: string, claims: AccessTokenClaims, now = Date.now()): VerifiedToken {
    const verified = { claims, scopes: claims.scope === '' ? [] : claims.scope.split(' ') }
    this.#entries.set(token.slice(-KEY_LENGTH), { token, verified }, claims.exp * 1000, now)
    return verified
  }
}
