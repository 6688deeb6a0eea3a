/**
 * A map whose entries live `ttl` milliseconds: what `authenticate` remembers of users and
 * revocations between store reads. The TTL bounds how stale an answer can be, so a change made
 * anywhere (another instance, the CLI) is seen within it. Bounded: when full, it starts afresh.
 */
export class ExpiringCache<K, V> {
  readonly #entries = new Map<K, { value: V, expiresAt: number }>()

  constructor (private readonly ttl: number, private readonly maxEntries = 10_000) {}

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
    if (this.#entries.size >= this.maxEntries) this.#entries.clear()
    this.#entries.set(key, { value, expiresAt: Math.min(now + this.ttl, until) })
  }
}
