import { Redis } from 'ioredis'
import type { Count, Counter } from './counter.js'

/** Counters in Redis, shared by every instance that uses the same server and prefix. */
export class RedisCounter implements Counter {
  readonly #redis: Redis

  constructor (url: string, private readonly prefix = 'oauth2-password:') {
    // Fail a command at once when Redis is down rather than queueing it behind a login.
    this.#redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true })
  }

  async increment (keys: readonly string[], windowMs: number): Promise<void> {
    const multi = this.#redis.multi()
    for (const key of keys) {
      multi.incr(this.prefix + key)
      // NX: only the first failure starts the window, so steady guessing cannot keep extending it.
      multi.pexpire(this.prefix + key, windowMs, 'NX')
    }
    await multi.exec()
  }

  async get (keys: readonly string[]): Promise<Count[]> {
    if (keys.length === 0) return []
    const pipeline = this.#redis.pipeline()
    for (const key of keys) {
      pipeline.get(this.prefix + key)
      pipeline.pttl(this.prefix + key)
    }
    const results = await pipeline.exec() ?? []
    return keys.map((_key, index) => {
      const [countError, count] = results[index * 2] ?? [null, null]
      const [ttlError, ttl] = results[index * 2 + 1] ?? [null, null]
      if (countError !== null) throw countError
      if (ttlError !== null) throw ttlError
      return { count: Number(count ?? 0), resetIn: Math.max(Number(ttl), 0) }
    })
  }

  async delete (keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#redis.del(...keys.map(key => this.prefix + key))
  }

  async close (): Promise<void> {
    await this.#redis.quit()
  }
}
