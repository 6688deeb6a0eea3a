import { createHash } from 'node:crypto'
import type { Store } from '../store/types.js'
import { StoreUnavailableError } from '../store/errors.js'
import type { RedisClient } from '../limits/redis.js'
import { PROOF_WINDOW, type VerifiedProof } from './dpop.js'

// RFC 9449 §11.1: a proof's jti is accepted once, on every instance. A proof is refused anyway once
// its iat is more than PROOF_WINDOW old, so each is remembered only until then: what is kept is
// bounded by the proofs of one window, whatever the traffic before it.

/** Where the proofs already used are remembered, shared by every instance that shares it. */
export interface ProofReplayGuard {
  /**
   * Records the proof `id` as used until `expiresAt` (epoch ms); resolves true for its first use, false
   * while it is remembered at `now`. Of concurrent uses on any instance, exactly one is the first.
   */
  use: (id: string, expiresAt: number, now: number) => Promise<boolean>
}

/** Through the store: its dpop_proofs table, which prune empties of expired proofs. */
export class StoreProofReplayGuard implements ProofReplayGuard {
  constructor (private readonly store: Pick<Store, 'useDPoPProof'>) {}

  async use (id: string, expiresAt: number, now: number): Promise<boolean> {
    return await this.store.useDPoPProof(id, expiresAt, now)
  }
}

/** SET NX with the proof's remaining time as TTL: Redis forgets it by itself, and answers the first use only. */
const SET_ONCE = 'return redis.call(\'SET\', KEYS[1], \'1\', \'PX\', ARGV[1], \'NX\')'

/** Through Redis, where the failed-login counts are: no write to the store for each protected request. */
export class RedisProofReplayGuard implements ProofReplayGuard {
  constructor (private readonly redis: RedisClient, private readonly prefix: string) {}

  async use (id: string, expiresAt: number, now: number): Promise<boolean> {
    let answer: unknown
    try {
      answer = await this.redis.eval(SET_ONCE, 1, `${this.prefix}dpop:${id}`, Math.max(1, Math.ceil(expiresAt - now)))
    } catch (error) {
      // Answered as the store's failures are (503 with Retry-After): a proof cannot be taken unchecked.
      throw new StoreUnavailableError({ cause: error })
    }
    return answer === 'OK'
  }
}

/**
 * Whether this is the first use of `proof`, recorded in `guard`. Keyed by the key's thumbprint and the
 * jti, digested to one length: a client's jti never collides with another key's, whatever it is.
 */
export async function firstUse (guard: ProofReplayGuard, proof: VerifiedProof, now: number): Promise<boolean> {
  const id = createHash('sha256').update(`${proof.jkt}.${proof.jti}`).digest('base64url')
  // A second after the window, so that rounding of iat never lets a proof outlive its record.
  return await guard.use(id, (proof.iat + PROOF_WINDOW + 1) * 1000, now)
}
