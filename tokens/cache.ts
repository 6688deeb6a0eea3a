/**
 * A map whose entries live `ttl` milliseconds, or until a time of their own if that comes first:
 * what `authenticate` remembers of the tokens it verified. Bounded: when full, the oldest entry goes.
 */
export class ExpiringCache<K, V> {
  readonly #entries = new Map<K, { value: V, expiresAt: number }>()

  constructor (private readonly ttl: number, private readonly maxEntries = 10_000) {}

  get size (): number {
    return this.#entries.size
  }

  get (key: K, now = Date.now()): { value: V } | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  /** Remembers `value` for the TTL, or until `until` (epoch ms) if that comes first. */
  set (key: K, value: V, until = Infinity, now = Date.now()): void {
    this.#entries.delete(key)
    // A Map iterates in insertion order: its first key is the oldest.
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as K)
    this.#entries.set(key, { value, expiresAt: Math.min(now + this.ttl, until) })
  }
}
