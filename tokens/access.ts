import { randomUUID } from 'node:crypto'
import { createSigner, createVerifier, type VerifierOptions } from 'fast-jwt'
import { SIGNING_ALGORITHMS, type KeyRing } from './keys.js'
import type { SigningKey } from '../store/types.js'

/** The claims of an access token (RFC 9068 §2.2), plus `ver`, the user's token version at issue. */
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
}

export interface AccessTokenRequest {
  userId: string
  tokenVersion: number
  scopes: readonly string[]
  clientId: string
}

export interface IssuedAccessToken {
  token: string
  claims: AccessTokenClaims
}

export const ACCESS_TOKEN_TYPE = 'at+jwt'

/**
 * What every verification of an access token requires (SPEC §6): one of our algorithms, `typ`
 * at+jwt, the exact issuer and audience, and the claims RFC 9068 §2.2 makes mandatory. fast-jwt
 * also refuses any `crit` header it does not understand, and a non-numeric `exp` or `nbf`.
 */
export function verificationRules (issuer: string, audience: string): Partial<VerifierOptions> {
  return {
    algorithms: [...SIGNING_ALGORITHMS],
    allowedIss: issuer,
    allowedAud: audience,
    checkTyp: ACCESS_TOKEN_TYPE,
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']
  }
}

/** The key that verifies a token with this header: known `kid`, and the one algorithm that key was made for. */
export function verificationKey (keys: KeyRing, header: { kid?: unknown, alg?: unknown }): SigningKey | undefined {
  const key = keys.find(header.kid)
  return key !== undefined && key.alg === header.alg ? key : undefined
}

/** Whether a verified payload has the claims this server puts in every access token. */
export function hasAccessTokenClaims (payload: AccessTokenClaims): boolean {
  return typeof payload.sub === 'string' && typeof payload.scope === 'string' &&
    typeof payload.client_id === 'string' && Number.isInteger(payload.ver) && typeof payload.jti === 'string'
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
      ver: request.tokenVersion
    }
    return { token: this.#signer()(claims), claims }
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

/**
 * Verifies access tokens outside a request's Authorization header (revocation, introspection);
 * the request path goes through @fastify/jwt with the same rules.
 */
export class AccessTokenVerifier {
  readonly #verifiers = new Map<string, (token: string) => AccessTokenClaims>()

  constructor (
    private readonly options: { issuer: string, audience: string, keys: () => KeyRing }
  ) {}

  /** The claims of a valid, unexpired access token, or null for anything else. */
  verify (token: string): AccessTokenClaims | null {
    try {
      const [header = ''] = token.split('.')
      const key = verificationKey(this.options.keys(), JSON.parse(Buffer.from(header, 'base64url').toString('utf8')))
      if (key === undefined) return null
      let verifier = this.#verifiers.get(key.kid)
      if (verifier === undefined) {
        verifier = createVerifier({
          ...verificationRules(this.options.issuer, this.options.audience),
          algorithms: [key.alg],
          key: key.publicKey
        })
        this.#verifiers.set(key.kid, verifier)
      }
      const claims = verifier(token)
      return hasAccessTokenClaims(claims) ? claims : null
    } catch {
      return null
    }
  }
}
