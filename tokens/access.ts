import { randomUUID } from 'node:crypto'
import { createSigner, type VerifierOptions } from 'fast-jwt'
import { SIGNING_ALGORITHMS, type KeyRing } from './keys.js'
import type { SigningKey } from '../store/types.js'
import { InvalidTokenError } from './bearer.js'

/**
 * The claims of an access token (RFC 9068 §2.2), plus `ver`, the user's token version at issue,
 * and `sid`, the refresh family (the login) it was issued in, which ends it when the family is revoked.
 */
export interface AccessTokenClaims {
  iss: string
  sub: string
  aud: string
  exp: number
  iat: number
  jti: string
  scope: string
  client_id: string
  ver: number
  /** Absent from tokens issued before access tokens were bound to their family. */
  sid?: string
  /** The key the token is bound to, by its SHA-256 JWK thumbprint (RFC 9449 §6.1); absent from a bearer token. */
  cnf?: { jkt: string }
}

export interface AccessTokenRequest {
  userId: string
  tokenVersion: number
  scopes: readonly string[]
  clientId: string
  /** The refresh family the token is issued in. */
  familyId: string
  /** The thumbprint of the DPoP key to bind the token to; none for a bearer token. */
  jkt?: string
}

export interface IssuedAccessToken {
  token: string
  claims: AccessTokenClaims
}

export const ACCESS_TOKEN_TYPE = 'at+jwt'

/** Seconds of clock difference between instances that `iat` and a token's lifetime may show. */
export const CLOCK_LEEWAY = 30

/** The only header members this server writes; anything else (crit, b64, jku, jwk, x5u…) is refused. */
const HEADER_MEMBERS = new Set(['alg', 'kid', 'typ'])

/** The order of P-256's group, and half of it: an ECDSA signature (r, s) has a twin (r, n - s). */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
/** Half the order as 32 big-endian bytes, which compare as the numbers do. */
const P256_HALF_ORDER = Buffer.from((P256_ORDER >> 1n).toString(16).padStart(64, '0'), 'hex')

/**
 * What every verification of an access token requires of fast-jwt: one of our algorithms, the
 * exact issuer and audience, numeric `exp` and `nbf`, and the claims RFC 9068 §2.2 makes
 * mandatory. The header, the signature's spelling and the claims' types and lifetime are checked
 * by AccessTokenVerifier itself, more strictly than fast-jwt would.
 */
export function verificationRules (issuer: string, audience: string): Partial<VerifierOptions> {
  return {
    algorithms: [...SIGNING_ALGORITHMS],
    allowedIss: issuer,
    allowedAud: audience,
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']
  }
}

/**
 * An ES256 signature rewritten with the low S of its twin (r, n - s): both verify, so a verifier that
 * took either would accept two spellings of every token. Signatures are made low and checked low.
 */
function lowS (signature: Buffer): Buffer {
  if (!isHighS(signature)) return signature
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`)
  const low = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex')
  return Buffer.concat([signature.subarray(0, 32), low])
}

/** An ES256-signed JWT with its signature in low-S form. */
export function withLowS (token: string): string {
  const dot = token.lastIndexOf('.')
  return `${token.slice(0, dot)}.${lowS(Buffer.from(token.slice(dot + 1), 'base64url')).toString('base64url')}`
}

/** Whether the S half of a 64-byte ES256 signature (r ‖ s) is the high one of its twins. */
function isHighS (signature: Buffer): boolean {
  return Buffer.compare(signature.subarray(32), P256_HALF_ORDER) > 0
}

/** Signs RFC 9068 access tokens with the key ring's current key. */
export class AccessTokenIssuer {
  readonly #signers = new Map<string, (payload: AccessTokenClaims) => string>()

  constructor (
    private readonly options: { issuer: string, audience: string, ttl: number, keys: () => KeyRing }
  ) {}

  issue (request: AccessTokenRequest, now = Date.now()): IssuedAccessToken {
    const iat = Math.floor(now / 1000)
    const claims: AccessTokenClaims = {
      iss: this.options.issuer,
      sub: request.userId,
      aud: this.options.audience,
      exp: iat + this.options.ttl,
      iat,
      jti: randomUUID(),
      scope: request.scopes.join(' '),
      client_id: request.clientId,
      ver: request.tokenVersion,
      sid: request.familyId,
      ...(request.jkt === undefined ? {} : { cnf: { jkt: request.jkt } })
    }
    const token = this.#signer()(claims)
    return { token: this.options.keys().signing.alg === 'ES256' ? withLowS(token) : token, claims }
  }

  #signer (): (payload: AccessTokenClaims) => string {
    const key = this.options.keys().signing
    let signer = this.#signers.get(key.kid)
    if (signer === undefined) {
      signer = createSigner({ key: key.privateKey, algorithm: key.alg, kid: key.kid, header: { alg: key.alg, typ: ACCESS_TOKEN_TYPE } })
      this.#signers.set(key.kid, signer)
    }
    return signer
  }
}

/** What fast-jwt's errors mean, in words a client may read in the challenge. */
const TOKEN_PROBLEMS: Record<string, string> = {
  FAST_JWT_EXPIRED: 'The access token expired',
  FAST_JWT_INACTIVE: 'The access token is not valid yet',
  FAST_JWT_INVALID_CLAIM_VALUE: 'The access token is for another issuer or audience',
  FAST_JWT_INVALID_ALGORITHM: 'The access token is signed with an algorithm this server does not use'
}

const invalid = (description: string): InstanceType<typeof InvalidTokenError> => new InvalidTokenError(description)

/**
 * Verifies access tokens: the header, the signature's spelling and the claims by its own rules,
 * the signature, issuer, audience and dates through `verifyWith` (@fastify/jwt, with the key the
 * header names). Everything wrong is an InvalidTokenError with a description.
 */
export class AccessTokenVerifier {
  constructor (
    private readonly options: {
      keys: () => KeyRing
      /** Seconds an access token lives: a longer-lived token was not made here. */
      ttl: number
      verifyWith: (token: string, key: SigningKey) => unknown
    }
  ) {}

  verify (token: string, now = Date.now()): AccessTokenClaims {
    const parts = token.split('.')
    if (parts.length !== 3) throw invalid('The access token is not a signed JWT')
    const [encodedHeader = '', , signature = ''] = parts
    let header: unknown
    try {
      header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'))
    } catch {
      throw invalid('The access token is not a signed JWT')
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw invalid('The access token is not a signed JWT')
    const { alg, kid, typ } = header as Record<string, unknown>
    if (Object.keys(header).some(member => !HEADER_MEMBERS.has(member))) throw invalid('The access token has a header member this server does not write')
    // Exactly, not case-insensitively nor with an `application/` prefix: only what this server writes.
    if (typ !== ACCESS_TOKEN_TYPE) throw invalid('The token is not an access token')
    const key = this.options.keys().find(kid)
    if (key === undefined) throw invalid('The access token is signed by an unknown key')
    // Each key verifies only the one algorithm it was made for: no algorithm confusion.
    if (key.alg !== alg) throw invalid('The access token is signed with an algorithm this server does not use')
    const bytes = Buffer.from(signature, 'base64url')
    // One spelling per signature: base64url with no padding and no stray bits, and ECDSA's low S.
    if (bytes.toString('base64url') !== signature || (alg === 'ES256' && (bytes.length !== 64 || isHighS(bytes)))) {
      throw invalid('The access token\'s signature is not in its canonical form')
    }
    let claims: AccessTokenClaims
    try {
      claims = this.options.verifyWith(token, key) as AccessTokenClaims
    } catch (error) {
      const code = error instanceof Error && 'code' in error ? String(error.code) : ''
      throw invalid(TOKEN_PROBLEMS[code] ?? 'The access token is invalid')
    }
    const problem = claimsProblem(claims, now, this.options.ttl)
    if (problem !== null) throw invalid(problem)
    return claims
  }

  /** The claims of a valid access token, or null for anything else. */
  claimsOf (token: string, now = Date.now()): AccessTokenClaims | null {
    try {
      return this.verify(token, now)
    } catch {
      return null
    }
  }
}

/** Why verified claims are not those of an access token this server issued, or null. */
function claimsProblem (claims: AccessTokenClaims, now: number, ttl: number): string | null {
  if (typeof claims.sub !== 'string' || typeof claims.scope !== 'string' || typeof claims.client_id !== 'string' ||
    !Number.isInteger(claims.ver) || typeof claims.jti !== 'string' || (claims.sid !== undefined && typeof claims.sid !== 'string')) {
    return 'The access token lacks a claim this server needs'
  }
  if (claims.cnf !== undefined && (typeof claims.cnf !== 'object' || claims.cnf === null || typeof claims.cnf.jkt !== 'string')) {
    return 'The access token\'s cnf claim names no key thumbprint'
  }
  if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp)) return 'The access token\'s dates are not whole seconds'
  if (claims.iat > now / 1000 + CLOCK_LEEWAY) return 'The access token was issued in the future'
  if (claims.exp - claims.iat > ttl + CLOCK_LEEWAY) return 'The access token lives longer than this server issues them for'
  return null
}
