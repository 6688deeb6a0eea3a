import fastifyJwt, { type JWT } from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import type { SigningAlgorithm, SigningKey, Store } from '../../store/index.js'
import { verificationRules } from '../../tokens/access.js'
import { KeyRing, generateSigningKey, liveKeys } from '../../tokens/keys.js'
import { type KeyEncryption, isEncrypted } from '../../tokens/key-encryption.js'

// The signing keys the plugin signs and verifies with, and the @fastify/jwt that verifies.

/** The @fastify/jwt namespace the plugin verifies under, beside any @fastify/jwt of the host's own. */
const JWT_NAMESPACE = 'oauth2Password'

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
 * Registers @fastify/jwt in a context of its own, so that its decorators (`jwt`, `user`) never meet
 * those of a host that registers @fastify/jwt too, before or after this plugin; under a namespace,
 * so that a host's `jwt` decorator inherited here is extended rather than replaced. Returns its
 * verifier, which takes the key the token names with each call.
 */
export async function jwtVerifier (fastify: FastifyInstance, issuer: string, audience: string): Promise<(token: string, publicKey: string) => unknown> {
  let verifier: JWT | undefined
  await fastify.register(async function accessTokenVerification (child) {
    await child.register(fastifyJwt, {
      namespace: JWT_NAMESPACE,
      // Verify-only, and never with this secret: each call brings the key of the token's kid.
      secret: { public: () => { throw new Error('the access token verifier takes the key with each call') } },
      verify: verificationRules(issuer, audience)
    })
    verifier = (child.jwt as unknown as Record<string, JWT>)[JWT_NAMESPACE]
  })
  if (verifier === undefined) throw new Error('@fastify/jwt did not register its verifier')
  const jwt = verifier
  return (token, publicKey) => jwt.verify(token, { key: publicKey })
}
