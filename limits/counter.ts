// Counters that expire: the memory of failed logins. In memory for one instance; through Redis
// (limits/redis.ts) when several instances must share the counts.

export interface Count {
  count: number
  /** Milliseconds until the count's window ends and it drops to zero. */
  resetIn: number
}

export interface Counter {
  /** Adds one to each key; a key's window starts at its first increment and lasts `windowMs`. */
  increment (keys: readonly string[], windowMs: number): Promise<void>
  get (keys: readonly string[]): Promise<Count[]>
  delete (keys: readonly string[]): Promise<void>
  /** Resolves when the counters can be read and written; rejects otherwise. */
  ping (): Promise<void>
  close (): Promise<void>
}

/**
 * One instance's counters. Bounded: past `maxKeys` the oldest window is dropped, so a flood of
 * made-up usernames costs memory only up to the bound.
 */
export class MemoryCounter implements Counter {
  readonly #entries = new Map<string, { count: number, expiresAt: number }>()

  constructor (private readonly maxKeys = 100_000) {}

  async increment (keys: readonly string[], windowMs: number): Promise<void> {
    const now = Date.now()
    for (const key of keys) {
      const entry = this.#live(key, now)
      if (entry !== undefined) {
        entry.count++
        continue
      }
      if (this.#entries.size >= this.maxKeys) this.#evict(now)
      this.#entries.set(key, { count: 1, expiresAt: now + windowMs })
    }
  }

  async get (keys: readonly string[]): Promise<Count[]> {
    const now = Date.now()
    return keys.map(key => {
      const entry = this.#live(key, now)
      return entry === undefined ? { count: 0, resetIn: 0 } : { count: entry.count, resetIn: entry.expiresAt - now }
    })
  }

  async delete (keys: readonly string[]): Promise<void> {
    for (const key of keys) this.#entries.delete(key)
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.#entries.clear()
  }

  #live (key: string, now: number): { count: number, expiresAt: number } | undefined {
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.expiresAt <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  /** Drops expired windows, and if none had expired, the oldest one (a Map iterates in insertion order). */
  #evict (now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(key)
    }
    if (this.#entries.size >= this.maxKeys) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
  }
}
