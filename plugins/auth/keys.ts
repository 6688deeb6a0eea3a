import fastifyJwt from '@fastify/jwt'
import Fastify, { type FastifyInstance } from 'fastify'
import type { VerifierOptions } from 'fast-jwt'
import type { SigningAlgorithm, SigningKey, Store } from '../../store/index.js'
import { KeyRing, generateSigningKey, liveKeys } from '../../tokens/keys.js'
import { type KeyEncryption, isEncrypted } from '../../tokens/key-encryption.js'

// The signing keys the plugin signs and verifies with, and the @fastify/jwt instances that verify.

/** The keys in force among `stored` (as the store lists them), decrypted; throws a KeyEncryptionError when one cannot be. */
export function keyRing (stored: readonly SigningKey[], accessTokenTtl: number, encryption: KeyEncryption): KeyRing {
  return new KeyRing(liveKeys(stored, Date.now(), accessTokenTtl).map(key => encryption.open(key)))
}

/** Loads the signing keys, creating the first one (encrypted when there is a secret) when the store has none. */
export async function loadKeys (store: Store, algorithm: SigningAlgorithm, accessTokenTtl: number, encryption: KeyEncryption): Promise<{ ring: KeyRing, inClear: number }> {
  let keys = await store.listSigningKeys()
  if (keys.length === 0) keys = await store.addFirstSigningKey(encryption.seal(generateSigningKey(algorithm)))
  return { ring: keyRing(keys, accessTokenTtl, encryption), inClear: keys.filter(key => !isEncrypted(key)).length }
}

/**
 * @fastify/jwt, one per signing key in force, each with its key as its static public key: that way
 * @fastify/jwt parses the key and builds its fast-jwt verifier once, where a call that brings a key
 * of its own pays for both on every token (three quarters of a request with a token never seen
 * before). Each lives in a Fastify instance of its own that never listens: keys come and go while the
 * server runs, when no plugin can be registered on it any more; and nothing of them is decorated on
 * the host's instance, so a host's own @fastify/jwt never meets them.
 */
export class JwtVerifiers {
  readonly #byKid = new Map<string, FastifyInstance>()

  constructor (private readonly rules: Partial<VerifierOptions>) {}

  /** Makes the verifier of each key of `ring` that has none, and ends those of keys no longer in it. */
  async update (ring: KeyRing): Promise<void> {
    for (const key of ring.all) {
      if (this.#byKid.has(key.kid)) continue
      const verifier = Fastify()
      await verifier.register(fastifyJwt, { secret: { public: key.publicKey }, verify: this.rules })
      await verifier.ready()
      this.#byKid.set(key.kid, verifier)
    }
    const retired = [...this.#byKid].filter(([kid]) => ring.find(kid) === undefined)
    for (const [kid] of retired) this.#byKid.delete(kid)
    await Promise.all(retired.map(async ([, verifier]) => await verifier.close()))
  }

  /** The claims of `token` if `key` signed it and it meets the rules; throws fast-jwt's error otherwise. */
  verify (token: string, key: SigningKey): unknown {
    const verifier = this.#byKid.get(key.kid)
    if (verifier === undefined) throw new Error(`no verifier for signing key ${key.kid}`)
    return verifier.jwt.verify(token)
  }

  async close (): Promise<void> {
    const verifiers = [...this.#byKid.values()]
    this.#byKid.clear()
    await Promise.all(verifiers.map(async verifier => await verifier.close()))
  }
}
