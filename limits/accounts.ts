import { createHash } from 'node:crypto'
import type { Counter } from './counter.js'
import { LimitsUnavailableError } from './login.js'

/**
 * The limits of the account endpoints that create things or send mail, counted in the same counter
 * as the failed logins (shared through Redis when it is configured):
 * - `register`: registrations from one address;
 * - `mail`: requests for a code (forgotten password, verification resent) from one address;
 * - `mailsPerUser`: codes mailed to one account, whoever asks, so that nobody can fill a mailbox.
 */
export interface AccountLimits {
  register: number
  mail: number
  mailsPerUser: number
  /** Seconds a window lasts from its first request. */
  window: number
}

export const DEFAULT_ACCOUNT_LIMITS: Readonly<AccountLimits> = { register: 10, mail: 10, mailsPerUser: 3, window: 15 * 60 }

/** User ids are hashed into keys as usernames are: no account named in the counter store. */
const digest = (text: string): string => createHash('sha256').update(text).digest('base64url').slice(0, 22)

export class AccountLimiter {
  constructor (private readonly counter: Counter, private readonly limits: AccountLimits = DEFAULT_ACCOUNT_LIMITS) {}

  /** Counts one request of `kind` from `address`: null when it may go ahead, else the seconds to wait. */
  async take (kind: 'register' | 'mail', address: string): Promise<number | null> {
    return await this.#take(`account:${kind}:${address}`, this.limits[kind])
  }

  /** Counts one code mailed to the user: whether it may be sent. */
  async takeMail (userId: string): Promise<boolean> {
    return await this.#take(`account:mailto:${digest(userId)}`, this.limits.mailsPerUser) === null
  }

  async #take (key: string, limit: number): Promise<number | null> {
    let blocked: number | null
    try {
      blocked = await this.counter.take([{ key, limit }], this.limits.window * 1000)
    } catch (error) {
      throw new LimitsUnavailableError(error)
    }
    return blocked === null ? null : Math.max(1, Math.ceil(blocked / 1000))
  }
}
