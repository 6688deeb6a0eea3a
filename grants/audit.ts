import { createHmac, randomBytes } from 'node:crypto'
import type { GrantRequest, Logger } from './grant.js'

export type LoginOutcome =
  | 'success' | 'unknown_user' | 'wrong_password' | 'code_missing' | 'wrong_code' | 'disabled' | 'email_unverified' | 'invalid_scope' | 'rate_limited'

/** How long refusals from one address are counted into one line after the line that was written. */
const REFUSALS_WINDOW = 60_000
/** Addresses whose refusals are being counted at once; past it the oldest is written out early. */
const MAX_ADDRESSES = 10_000

/**
 * The audit lines of password logins: one per attempt, except refusals of a rate-limited address,
 * of which the first in a minute is written and the rest counted into the next line (`repeated`),
 * so that a flood of cheap refusals cannot flood the log. A username is written only once it is
 * known to name a user: what was typed into the username field of an unknown one may be a password,
 * so it is written as a keyed digest, which tells repeated attempts apart and nothing else.
 */
export class LoginAudit {
  readonly #key = randomBytes(32)
  /** Per address, refusals counted since its last line, and when that line was written. */
  readonly #refusals = new Map<string, { since: number, count: number }>()
  readonly #timer: NodeJS.Timeout

  constructor (private readonly log: Logger) {
    this.#timer = setInterval(() => this.#flush(Date.now()), REFUSALS_WINDOW)
    this.#timer.unref()
  }

  attempt (request: GrantRequest, username: string, clientId: string, outcome: LoginOutcome): void {
    const known = outcome !== 'unknown_user' && outcome !== 'rate_limited'
    const who = known ? { username } : { usernameDigest: this.#digest(username) }
    if (outcome === 'rate_limited') {
      const repeated = this.#refusal(request.ip, Date.now())
      if (repeated === null) return
      request.log.info({ audit: 'login', ...who, clientAddress: request.ip, clientId, outcome, repeated }, 'login attempt')
      return
    }
    request.log.info({ audit: 'login', ...who, clientAddress: request.ip, clientId, outcome }, 'login attempt')
  }

  /** Writes what is still counted. */
  close (): void {
    clearInterval(this.#timer)
    this.#flush(Infinity)
  }

  #digest (username: string): string {
    return createHmac('sha256', this.#key).update(username).digest('base64url').slice(0, 16)
  }

  /** Null when this refusal is counted into a later line; otherwise how many were counted since the last line. */
  #refusal (address: string, now: number): number | null {
    const entry = this.#refusals.get(address)
    if (entry !== undefined && now - entry.since < REFUSALS_WINDOW) {
      entry.count++
      return null
    }
    this.#refusals.delete(address)
    if (this.#refusals.size >= MAX_ADDRESSES) this.#flushOldest()
    this.#refusals.set(address, { since: now, count: 0 })
    return entry?.count ?? 0
  }

  #flushOldest (): void {
    const [address, entry] = this.#refusals.entries().next().value as [string, { since: number, count: number }]
    this.#refusals.delete(address)
    this.#summary(address, entry.count)
  }

  #flush (now: number): void {
    for (const [address, entry] of this.#refusals) {
      if (now - entry.since < REFUSALS_WINDOW) continue
      this.#refusals.delete(address)
      this.#summary(address, entry.count)
    }
  }

  #summary (address: string, count: number): void {
    if (count > 0) this.log.info({ audit: 'login', clientAddress: address, outcome: 'rate_limited', repeated: count }, 'login attempts refused')
  }
}
