import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto'
import type { SigningAlgorithm, SigningKey } from '../store/types.js'

export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'EdDSA', 'RS256']

export function generateSigningKey (alg: SigningAlgorithm, now = Date.now()): SigningKey {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const
  const pair = (): { privateKey: string, publicKey: string } => {
    switch (alg) {
      case 'ES256': return generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding, privateKeyEncoding })
      case 'EdDSA': return generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding })
      case 'RS256': return generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding, privateKeyEncoding })
    }
  }
  const { privateKey, publicKey } = pair()
  return { kid: randomUUID(), alg, privateKey, publicKey, createdAt: now }
}

/** The public members of a JWK (RFC 7517 §4, RFC 7518 §6) for the key types SIGNING_ALGORITHMS use. */
interface PublicKeyMembers {
  kty?: string
  /** EC and OKP keys. */
  crv?: string
  x?: string
  /** EC keys. */
  y?: string
  /** RSA keys. */
  n?: string
  e?: string
}

/**
 * A key of the JWKS. Declared here rather than extending node:crypto's `JsonWebKey`, which
 * current @types/node no longer exports from 'node:crypto': the shipped .d.ts must compile with
 * every @types/node line a host may have.
 */
export interface PublicJwk extends PublicKeyMembers {
  kty: string
  kid: string
  alg: SigningAlgorithm
  use: 'sig'
}

export function publicJwk (key: SigningKey): PublicJwk {
  const jwk: PublicKeyMembers = createPublicKey(key.publicKey).export({ format: 'jwk' })
  return { ...jwk, kty: jwk.kty ?? '', kid: key.kid, alg: key.alg, use: 'sig' }
}

/**
 * Slack on top of the access token lifetime before a retired key leaves: covers instances that
 * learn of a rotation a few seconds late (and keep signing with the old key until then) and clock skew.
 */
export const KEY_RETIREMENT_MARGIN = 60

/**
 * The keys that can still have live tokens at `now`, newest first: the newest always, and each
 * older one until every token it signed has expired, i.e. `accessTokenTtl` (plus the margin) after
 * the next key took over from it.
 */
export function liveKeys (keys: readonly SigningKey[], now: number, accessTokenTtl: number): SigningKey[] {
  return keys.filter((_key, index) => {
    const successor = keys[index - 1]
    return successor === undefined || successor.createdAt + (accessTokenTtl + KEY_RETIREMENT_MARGIN) * 1000 > now
  })
}

/** The signing keys in force: the newest signs, every one verifies its own tokens. */
export class KeyRing {
  readonly #keys: SigningKey[]
  readonly #byKid: Map<string, SigningKey>
  readonly jwks: { keys: PublicJwk[] }

  /** `keys` newest first, as the store lists them; there is at least one. */
  constructor (keys: readonly SigningKey[]) {
    if (keys.length === 0) throw new Error('a key ring needs at least one signing key')
    this.#keys = [...keys]
    this.#byKid = new Map(keys.map(key => [key.kid, key]))
    this.jwks = { keys: keys.map(publicJwk) }
  }

  /** Every key in force, newest first. */
  get all (): readonly SigningKey[] {
    return this.#keys
  }

  get signing (): SigningKey {
    return this.#keys[0] as SigningKey
  }

  find (kid: unknown): SigningKey | undefined {
    return typeof kid === 'string' ? this.#byKid.get(kid) : undefined
  }
}
