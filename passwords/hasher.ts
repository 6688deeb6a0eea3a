import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import argon2 from 'argon2'
import { isCommonPassword } from './blocklist.js'

/** argon2id cost parameters; the defaults are OWASP's first recommendation (19 MiB, 2 passes, 1 lane). */
export interface Argon2Parameters {
  memoryCost: number
  timeCost: number
  parallelism: number
}

export const OWASP_ARGON2: Readonly<Argon2Parameters> = { memoryCost: 19456, timeCost: 2, parallelism: 1 }

export const PASSWORD_MAX_LENGTH = 1024

export interface PasswordHasherOptions {
  argon2?: Partial<Argon2Parameters>
  /** Hashes computed at once (default: the cores less one); more would only queue inside libuv's thread pool. */
  concurrency?: number
  /** Hashes allowed to wait for a slot; past it `HashingSaturatedError` answers at once. */
  queueLimit?: number
}

/** Thrown instead of queueing without limit when password hashing is saturated. */
export class HashingSaturatedError extends Error {
  readonly code = 'HASHING_SATURATED'
  constructor () {
    super('password hashing is saturated')
    this.name = 'HashingSaturatedError'
  }
}

/**
 * Passwords are compared after NFKC (NIST SP 800-63B-4 §3.1.1.2) so that the same password typed
 * on two keyboards matches; they are never truncated.
 */
function normalize (password: string): string {
  return password.normalize('NFKC')
}

export class PasswordHasher {
  readonly parameters: Readonly<Argon2Parameters>
  readonly concurrency: number
  readonly queueLimit: number
  #running = 0
  readonly #waiting: Array<() => void> = []
  #dummyHash: Promise<string> | undefined

  constructor (options: PasswordHasherOptions = {}) {
    this.parameters = { ...OWASP_ARGON2, ...options.argon2 }
    // One core is left to the event loop, so that a flood of logins does not stall every other request.
    this.concurrency = options.concurrency ?? Math.max(1, availableParallelism() - 1)
    this.queueLimit = options.queueLimit ?? 64
  }

  hash (password: string): Promise<string> {
    return this.#bounded(() => argon2.hash(normalize(password), { type: argon2.argon2id, ...this.parameters }))
  }

  verify (hash: string, password: string): Promise<boolean> {
    return this.#bounded(() => argon2.verify(hash, normalize(password)))
  }

  /**
   * Spends the same work as a real verification against a hash nobody's password matches, so that
   * an unknown username takes as long to refuse as a wrong password.
   */
  async verifyDummy (password: string): Promise<false> {
    await this.verify(await this.dummyHash(), password)
    return false
  }

  /** The hash that unknown usernames are checked against, made once with the current parameters; a server makes it at start-up. */
  dummyHash (): Promise<string> {
    this.#dummyHash ??= argon2.hash(randomBytes(32), { type: argon2.argon2id, ...this.parameters })
    return this.#dummyHash
  }

  /** True when `hash` was made with another algorithm or other parameters than the current ones. */
  needsRehash (hash: string): boolean {
    return !hash.startsWith('$argon2id$') || argon2.needsRehash(hash, this.parameters)
  }

  async #bounded<T> (work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrency) {
      if (this.#waiting.length >= this.queueLimit) throw new HashingSaturatedError()
      await new Promise<void>(resolve => this.#waiting.push(resolve))
    } else {
      this.#running++
    }
    try {
      return await work()
    } finally {
      // Hand the slot straight to the next waiter, so a burst cannot overtake the queue.
      const next = this.#waiting.shift()
      if (next) next()
      else this.#running--
    }
  }
}

/**
 * Why `password` cannot be set, or null when it can: the password policy of every new password
 * (NIST SP 800-63B-4 §3.1.1.2), with no composition rules. Lengths count code points, as typed.
 * The answer names the rule, never the password.
 */
export function passwordProblem (password: string, minLength: number): string | null {
  const length = [...password].length
  if (length < minLength) return `password must be at least ${minLength} characters`
  if (length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters`
  if (isCommonPassword(password)) return 'password is on a list of common passwords found in data breaches: choose another'
  return null
}
