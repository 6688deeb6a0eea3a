// Counters that expire: the memory of failed logins. In memory for one instance; through Redis
// (limits/redis.ts) when several instances must share the counts.

export interface Count {
  count: number
  /** Milliseconds until the count's window ends and it drops to zero. */
  resetIn: number
}

/** A counter and the count at which it blocks; `Infinity` never blocks. */
export interface Limited {
  key: string
  limit: number
}

export interface Counter {
  /**
   * Atomically, so that concurrent calls cannot overshoot a limit: when every key is below its
   * limit, adds one to each and returns null; otherwise changes nothing and returns the
   * milliseconds until the last of the blocking windows ends. A key's window starts at its first
   * increment and lasts `windowMs`; later increments do not extend it.
   */
  take (entries: readonly Limited[], windowMs: number): Promise<number | null>
  /** Takes back one increment from each key whose count is above zero. */
  release (keys: readonly string[]): Promise<void>
  /** Adds one to each key, whatever its count. */
  increment (keys: readonly string[], windowMs: number): Promise<void>
  get (keys: readonly string[]): Promise<Count[]>
  delete (keys: readonly string[]): Promise<void>
  /** Resolves when the counters can be read and written; rejects otherwise. */
  ping (): Promise<void>
  close (): Promise<void>
}

interface Entry {
  count: number
  expiresAt: number
}

/**
 * One instance's counters. Bounded: past `maxKeys` the oldest window is dropped, so a flood of
 * made-up usernames costs memory only up to the bound. A Map iterates in insertion order, and a
 * window is fixed from its first increment, so with one window length the first entry is the one
 * that ends first: eviction looks at the front only, in constant time.
 */
export class MemoryCounter implements Counter {
  readonly #entries = new Map<string, Entry>()

  constructor (private readonly maxKeys = 100_000) {}

  async take (entries: readonly Limited[], windowMs: number): Promise<number | null> {
    const now = Date.now()
    let blockedFor = 0
    for (const { key, limit } of entries) {
      const entry = this.#live(key, now)
      if (entry !== undefined && entry.count >= limit) blockedFor = Math.max(blockedFor, entry.expiresAt - now, 1)
    }
    if (blockedFor > 0) return blockedFor
    this.#add(entries.map(entry => entry.key), windowMs, now)
    return null
  }

  async release (keys: readonly string[]): Promise<void> {
    const now = Date.now()
    for (const key of keys) {
      const entry = this.#live(key, now)
      if (entry !== undefined && entry.count > 0) entry.count--
    }
  }

  async increment (keys: readonly string[], windowMs: number): Promise<void> {
    this.#add(keys, windowMs, Date.now())
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

  #add (keys: readonly string[], windowMs: number, now: number): void {
    for (const key of keys) {
      const entry = this.#live(key, now)
      if (entry !== undefined && entry.count > 0) {
        entry.count++
        continue
      }
      // A count taken back to zero starts a new window with its next increment, as in Redis, and
      // moves to the back, where the newest windows are.
      this.#entries.delete(key)
      this.#makeRoom(now)
      this.#entries.set(key, { count: 1, expiresAt: now + windowMs })
    }
  }

  #live (key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.expiresAt <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  /** Drops ended windows from the front, then, if still full, the oldest live one. */
  #makeRoom (now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now && this.#entries.size < this.maxKeys) return
      this.#entries.delete(key)
      if (entry.expiresAt > now) return
    }
  }
}
