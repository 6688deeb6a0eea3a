import type { FastifyRequest } from 'fastify'
import { DPoPProofError, ProofVerifier } from '../../tokens/dpop.js'
import { firstUse, type ProofReplayGuard } from '../../tokens/dpop-replay.js'
import { InvalidDPoPProofError } from '../../tokens/bearer.js'
import { invalidDPoPProof } from '../../oauth/errors.js'

/**
 * The values of the request's DPoP headers. Read from Node's flat name/value list, since Node joins
 * two headers of one name into one value, and RFC 9449 §4.3 refuses a request with more than one.
 */
function proofHeaders (rawHeaders: readonly string[]): string[] {
  const values: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === 'dpop') values.push((rawHeaders[i + 1] ?? '').trim())
  }
  return values
}

/**
 * The URL a proof for this request must name (its `htu`): the scheme and host the client used, which
 * Fastify takes from the forwarded headers of a trusted proxy only (its `trustProxy`), and the path,
 * without the query.
 */
export function requestUrl (request: FastifyRequest): string {
  const { url } = request
  const end = url.search(/[?#]/)
  return `${request.protocol}://${request.host}${end === -1 ? url : url.slice(0, end)}`
}

/**
 * The DPoP proofs of requests: each checked against its request (tokens/dpop.ts), then taken as used
 * in `replay`, last, so that a proof refused for another reason can be corrected and sent again.
 */
export class DPoPProofs {
  readonly #verifier = new ProofVerifier()

  constructor (private readonly replay: ProofReplayGuard) {}

  /**
   * The thumbprint of the key of a token request's proof, to bind the tokens to (RFC 9449 §5); null
   * when the request has no DPoP header. A bad proof is an `invalid_dpop_proof` OAuthError.
   */
  async tokenRequestKey (request: FastifyRequest): Promise<string | null> {
    const proofs = proofHeaders(request.raw.rawHeaders)
    if (proofs.length === 0) return null
    try {
      return await this.#check(request, proofs)
    } catch (error) {
      if (error instanceof DPoPProofError) throw invalidDPoPProof(error.message)
      throw error
    }
  }

  /**
   * Checks the proof of a request to a protected route, for the access token `accessToken` bound to
   * the key `jkt` (RFC 9449 §7.1). A missing or bad proof is an InvalidDPoPProofError.
   */
  async checkProtectedRequest (request: FastifyRequest, accessToken: string, jkt: string): Promise<void> {
    try {
      await this.#check(request, proofHeaders(request.raw.rawHeaders), { accessToken, jkt })
    } catch (error) {
      if (error instanceof DPoPProofError) throw new InvalidDPoPProofError(error.message)
      throw error
    }
  }

  async #check (request: FastifyRequest, proofs: readonly string[], bound?: { accessToken: string, jkt: string }): Promise<string> {
    if (proofs.length === 0) throw new DPoPProofError('No DPoP proof in a DPoP header')
    if (proofs.length > 1) throw new DPoPProofError('More than one DPoP header')
    const now = Date.now()
    const proof = await this.#verifier.verify(proofs[0] ?? '', { method: request.method, url: requestUrl(request), accessToken: bound?.accessToken, now })
    if (bound !== undefined && proof.jkt !== bound.jkt) throw new DPoPProofError('The DPoP proof is signed by another key than the access token is bound to')
    if (!await firstUse(this.replay, proof, now)) throw new DPoPProofError('The DPoP proof was used before')
    return proof.jkt
  }
}
