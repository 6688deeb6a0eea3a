import { createHash } from 'node:crypto'
import type { Counter } from './counter.js'

/**
 * The failed-login policy (NIST SP 800-63B-4 §3.2.2). Failures are counted per
 * username-and-address pair, per address, and per username, each in a fixed window:
 * - `pair` stops guessing one account from one place quickly (10), and a successful login resets it;
 * - `address` stops one place guessing across many accounts (100), and counts failed client
 *   authentications too;
 * - `username` stops a distributed guess at one account (100), but does not apply from an address
 *   where that user has logged in successfully lately, so an attacker cannot lock the user out of
 *   the places they really use.
 *
 * An attempt is counted as a failure before its password is checked and taken back if it succeeds,
 * so that concurrent guesses cannot all pass the check before any of them is counted.
 */
export interface LoginLimits {
  pair: number
  address: number
  username: number
  /** Seconds a window lasts from its first failure. */
  window: number
  /** Seconds an address stays known for a user after a successful login from it. */
  trust: number
}

export const DEFAULT_LOGIN_LIMITS: Readonly<LoginLimits> = {
  pair: 10,
  address: 100,
  username: 100,
  window: 15 * 60,
  trust: 30 * 24 * 60 * 60
}

/** Usernames are hashed into keys: bounded length, and no username in the counter store. */
const digest = (username: string): string => createHash('sha256').update(username).digest('base64url').slice(0, 22)

/** The counters did not answer (Redis is down): a login waits rather than go uncounted. */
export class LimitsUnavailableError extends Error {
  readonly code = 'LIMITS_UNAVAILABLE'
  constructor (cause: unknown) {
    super('the failed-login counters do not answer', { cause })
    this.name = 'LimitsUnavailableError'
  }
}

async function counted<T> (work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (error) {
    throw new LimitsUnavailableError(error)
  }
}

/** Seconds to wait, from the milliseconds a counter answered. */
const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000))

export class LoginLimiter {
  /**
   * `failures` holds the counts; `trust` the addresses users logged in from, apart, so that a flood
   * of failures that fills a bounded counter cannot push a user's known address out.
   */
  constructor (
    private readonly failures: Counter,
    private readonly trust: Counter,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS
  ) {}

  #keys (username: string, address: string) {
    const user = digest(username)
    return {
      pair: `login:pair:${user}:${address}`,
      address: `login:addr:${address}`,
      username: `login:user:${user}`,
      trusted: `login:trusted:${user}:${address}`
    }
  }

  /**
   * Counts a password attempt as failed before it is checked. Null when it may go ahead; then
   * `succeeded` or `abandoned` must follow if it turns out not to be a failure. Otherwise nothing
   * is counted and the answer is the seconds to wait.
   */
  async attempt (username: string, address: string): Promise<number | null> {
    const keys = this.#keys(username, address)
    const [trusted] = await counted(this.trust.get([keys.trusted]))
    const blocked = await counted(this.failures.take([
      { key: keys.pair, limit: this.limits.pair },
      { key: keys.address, limit: this.limits.address },
      { key: keys.username, limit: (trusted?.count ?? 0) > 0 ? Infinity : this.limits.username }
    ], this.limits.window * 1000))
    return blocked === null ? null : seconds(blocked)
  }

  /** The password was right: the address's count is taken back, and the run of failures ends. */
  async succeeded (username: string, address: string): Promise<void> {
    const keys = this.#keys(username, address)
    await counted(this.failures.release([keys.address]))
    // NIST counts consecutive failures: a success ends the run for the account and for this place.
    await counted(this.failures.delete([keys.pair, keys.username]))
    await counted(this.trust.delete([keys.trusted]))
    await counted(this.trust.increment([keys.trusted], this.limits.trust * 1000))
  }

  /** The attempt was counted but its password never checked (the server was busy): take it back. */
  async abandoned (username: string, address: string): Promise<void> {
    const keys = this.#keys(username, address)
    await counted(this.failures.release([keys.pair, keys.address, keys.username]))
  }

  /** Counts a client authentication against the address before its secret is checked, as `attempt` does. */
  async clientAttempt (address: string): Promise<number | null> {
    const blocked = await counted(this.failures.take([{ key: this.#keys('', address).address, limit: this.limits.address }], this.limits.window * 1000))
    return blocked === null ? null : seconds(blocked)
  }

  /** The client authenticated: its attempt is taken back. */
  async clientSucceeded (address: string): Promise<void> {
    await counted(this.failures.release([this.#keys('', address).address]))
  }
}
