import { randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { KeyRing } from './keys.js'

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
