import { createHash } from 'node:crypto'
import type { Counter } from './counter.js'

/**
 * The failed-login policy (SPEC §3, §9; NIST SP 800-63B-4 §3.2.2). Failures are counted per
 * username-and-address pair, per address, and per username, each in a fixed window:
 * - `pair` stops guessing one account from one place quickly (10), and a successful login resets it;
 * - `address` stops one place guessing across many accounts (100);
 * - `username` stops a distributed guess at one account (100), but does not apply from an address
 *   where that user has logged in successfully lately, so an attacker cannot lock the user out of
 *   the places they really use.
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

export class LoginLimiter {
  constructor (private readonly counter: Counter, private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS) {}

  #keys (username: string, address: string) {
    const user = digest(username)
    return {
      pair: `login:pair:${user}:${address}`,
      address: `login:addr:${address}`,
      username: `login:user:${user}`,
      trusted: `login:trusted:${user}:${address}`
    }
  }

  /** Seconds to wait before trying again, or null when this attempt may go ahead. */
  async retryAfter (username: string, address: string): Promise<number | null> {
    const keys = this.#keys(username, address)
    const [pair, perAddress, perUsername, trusted] = await this.counter.get([keys.pair, keys.address, keys.username, keys.trusted])
    const blocked = [
      pair !== undefined && pair.count >= this.limits.pair ? pair : null,
      perAddress !== undefined && perAddress.count >= this.limits.address ? perAddress : null,
      perUsername !== undefined && perUsername.count >= this.limits.username && (trusted?.count ?? 0) === 0 ? perUsername : null
    ].filter(count => count !== null)
    if (blocked.length === 0) return null
    return Math.max(1, Math.ceil(Math.max(...blocked.map(count => count.resetIn)) / 1000))
  }

  async failed (username: string, address: string): Promise<void> {
    const keys = this.#keys(username, address)
    await this.counter.increment([keys.pair, keys.address, keys.username], this.limits.window * 1000)
  }

  async succeeded (username: string, address: string): Promise<void> {
    const keys = this.#keys(username, address)
    // NIST counts consecutive failures: a success ends the run for the account and for this place.
    await this.counter.delete([keys.pair, keys.username, keys.trusted])
    await this.counter.increment([keys.trusted], this.limits.trust * 1000)
  }
}
