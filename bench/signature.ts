import { createPublicKey, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto'
import type { SigningAlgorithm } from '../store/index.js'

/** The digest and key node:crypto's `verify` takes for a JWT signature of `alg` made by `publicKey` (PEM). */
export function verifyArguments (publicKey: string, alg: SigningAlgorithm): { digest: string | null, key: KeyObject | VerifyKeyObjectInput } {
  const key = createPublicKey(publicKey)
  return {
    digest: alg === 'EdDSA' ? null : 'sha256',
    // JWS writes an ECDSA signature as r ‖ s (RFC 7518 §3.4), not in DER.
    key: alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key
  }
}
