import { createHash } from 'node:crypto'
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type CryptoKey, type JWK, type JWSHeaderParameters } from 'jose'
import { ExpiringCache } from './cache.js'

// DPoP proofs (RFC 9449 §4): a JWT the client signs, for each request, with a key of its own whose
// public half travels in the header. jose (panva) verifies the signature with that embedded key and
// computes its thumbprint; the rules of §4.3 that jose leaves to its caller are checked here.

/**
 * The algorithms a proof may be signed with: asymmetric only (RFC 9449 §4.2), and among those the
 * ones common clients make. Ed25519 is the fully-specified name of EdDSA over Ed25519 that panva's
 * `dpop` client library signs with; RSA keys shorter than 2048 bits are refused by jose.
 */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'Ed25519', 'EdDSA', 'PS256', 'RS256'] as const

export const DPOP_PROOF_TYPE = 'dpop+jwt'

/**
 * Seconds a proof's `iat` may differ from this server's clock, either way: older proofs are refused,
 * so a `jti` needs remembering only that long after its `iat`.
 */
export const PROOF_WINDOW = 60

/** Far beyond any key and claims a client needs (a 4096-bit RSA proof is about 2 KB): nothing larger is parsed. */
const MAX_PROOF_LENGTH = 8192
/** A `jti` is a random identifier (RFC 9449 §4.2 asks for 96 bits at least): a longer one is not one. */
const MAX_JTI_LENGTH = 256
/**
 * Members of a JWK that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037
 * §2): the header must carry the public key only (RFC 9449 §4.2).
 */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv']
const ALGORITHMS: ReadonlySet<string> = new Set(DPOP_ALGORITHMS)
/**
 * How long a client's key, imported, is kept for its next proofs: a client signs every request with
 * one key, and importing it (WebCrypto) and hashing its thumbprint cost as much as the signature check.
 */
const KEY_CACHE_TTL = 10 * 60_000

/**
 * A proof that fails a check. The message says which check in words a client may read, in the
 * characters an RFC 6750 `error_description` allows, and never repeats anything of the proof.
 */
export class DPoPProofError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DPoPProofError'
  }
}

/** What the request a proof came with must match. */
export interface ProofRequest {
  /** The request's method, compared exactly (RFC 9110 §9.1: methods are case-sensitive). */
  method: string
  /** The request's URL as the server received it: scheme, host and path; a query is ignored. */
  url: string
  /** On a protected route, the access token the proof must name in `ath`. */
  accessToken?: string
  /** Epoch milliseconds. */
  now: number
}

export interface VerifiedProof {
  /** The SHA-256 JWK thumbprint (RFC 7638) of the key that signed the proof. */
  jkt: string
  jti: string
  /** Epoch seconds. */
  iat: number
}

/**
 * `url` as RFC 9449 §4.3 compares it: without query and fragment, with the scheme and host in lower
 * case, a default port left out and dot segments resolved (RFC 3986 §6.2.2, §6.2.3, which the WHATWG
 * URL parser applies); null for anything but an absolute http(s) URL.
 */
export function normalizeHtu (url: string): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return null
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
}

/** The `ath` a proof on a protected route carries: base64url(SHA-256(the access token)) (RFC 9449 §4.2). */
export function accessTokenHash (accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url')
}

/** A JSON object (not an array, not null). */
function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Checks proofs against the requests they came with (RFC 9449 §4.3, steps 2 to 11 and the `ath` of
 * §7.1); the caller checks that a proof's `jti` was not seen before and, on a protected route, that
 * its `jkt` is the one the access token is bound to.
 */
export class ProofVerifier {
  /** By a digest of the algorithm and the jwk as sent: the key jose imported from that jwk, and its thumbprint. */
  readonly #keys = new ExpiringCache<string, { key: CryptoKey, jkt: string }>(KEY_CACHE_TTL)

  /** Resolves to what the proof says once every check passed; throws DPoPProofError for any failure. */
  async verify (proof: string, request: ProofRequest): Promise<VerifiedProof> {
    if (proof.length > MAX_PROOF_LENGTH) throw new DPoPProofError('The DPoP proof is too long')
    let header: Record<string, unknown>
    try {
      header = decodeProtectedHeader(proof) as Record<string, unknown>
    } catch {
      throw new DPoPProofError('The DPoP proof is not a signed JWT')
    }
    // Checked here rather than left to jwtVerify, so that each failure has its own description.
    if (header.typ !== DPOP_PROOF_TYPE) throw new DPoPProofError('The DPoP proof\'s typ is not dpop+jwt')
    const alg = header.alg
    if (typeof alg !== 'string' || !ALGORITHMS.has(alg)) {
      throw new DPoPProofError('The DPoP proof is signed with an algorithm this server does not accept')
    }
    // RFC 9449 defines no header extension: any crit names one this server cannot honour (RFC 7515 §4.1.11).
    if (header.crit !== undefined) throw new DPoPProofError('The DPoP proof has a crit header this server does not understand')
    const jwk = header.jwk
    if (!isObject(jwk)) throw new DPoPProofError('The DPoP proof carries no jwk')
    if (PRIVATE_MEMBERS.some(member => Object.hasOwn(jwk, member))) throw new DPoPProofError('The DPoP proof\'s jwk is not a public key')
    const { key, jkt } = await this.#key(alg, jwk, header, request.now)

    let claims: Record<string, unknown>
    try {
      ({ payload: claims } = await jwtVerify(proof, key, {
        algorithms: [...DPOP_ALGORITHMS],
        typ: DPOP_PROOF_TYPE,
        requiredClaims: ['jti', 'htm', 'htu', 'iat'],
        currentDate: new Date(request.now)
      }))
    } catch (error) {
      throw new DPoPProofError(joseProblem(error))
    }
    const { jti, htm, htu, iat, ath } = claims
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) throw new DPoPProofError('The DPoP proof\'s jti is not an identifier')
    if (htm !== request.method) throw new DPoPProofError('The DPoP proof is for another HTTP method')
    const expected = normalizeHtu(request.url)
    if (typeof htu !== 'string' || expected === null || normalizeHtu(htu) !== expected) throw new DPoPProofError('The DPoP proof is for another URL')
    if (typeof iat !== 'number' || Math.abs(request.now / 1000 - iat) > PROOF_WINDOW) {
      throw new DPoPProofError('The DPoP proof was not made within the last minute')
    }
    if (request.accessToken !== undefined && ath !== accessTokenHash(request.accessToken)) {
      throw new DPoPProofError('The DPoP proof\'s ath does not match the access token')
    }
    return { jkt, jti, iat }
  }

  /**
   * The header's jwk imported for `alg` and its SHA-256 thumbprint (RFC 7638), by jose: EmbeddedJWK
   * refuses a private key, a symmetric one, and one that does not fit `alg`. Cached by the jwk as sent,
   * so that the same member values always come out as the same key and thumbprint.
   */
  async #key (alg: string, jwk: Record<string, unknown>, header: Record<string, unknown>, now: number): Promise<{ key: CryptoKey, jkt: string }> {
    const id = createHash('sha256').update(`${alg} ${JSON.stringify(jwk)}`).digest('base64url')
    const cached = this.#keys.get(id, now)?.value
    if (cached !== undefined) return cached
    let imported: { key: CryptoKey, jkt: string }
    try {
      imported = { key: await EmbeddedJWK(header as JWSHeaderParameters), jkt: await calculateJwkThumbprint(jwk as JWK, 'sha256') }
    } catch {
      throw new DPoPProofError('The DPoP proof\'s jwk is not a public key of its algorithm')
    }
    this.#keys.set(id, imported, Infinity, now)
    return imported
  }
}

/** What jose's error codes mean for a proof, in words a client may read. */
const JOSE_PROBLEMS: Record<string, string> = {
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'The DPoP proof\'s signature does not verify',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'The DPoP proof lacks a claim or has one of the wrong type',
  ERR_JWT_EXPIRED: 'The DPoP proof expired'
}

function joseProblem (error: unknown): string {
  const code = isObject(error) && typeof error.code === 'string' ? error.code : ''
  return JOSE_PROBLEMS[code] ?? 'The DPoP proof is not a valid signed JWT'
}
