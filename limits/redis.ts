import { Redis } from 'ioredis'
import type { Count, Counter } from './counter.js'

/**
 * INCR, and on the first increment PEXPIRE, atomically: only the first failure starts the window,
 * so steady guessing cannot keep extending it (and no Redis 7 `PEXPIRE NX` is needed).
 */
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`

/** Counters in Redis, shared by every instance that uses the same server and prefix. */
export class RedisCounter implements Counter {
  readonly #redis: Redis

  constructor (url: string, onError: (error: Error) => void, private readonly prefix = 'oauth2-password:') {
    // Fail a command soon when Redis is down rather than queueing it behind a login: one retry after
    // a refused connection, and a timeout for a server that accepts the connection but never answers.
    this.#redis = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      connectTimeout: 2000,
      commandTimeout: 2000
    })
    // Without a listener ioredis prints every failed reconnection to stderr, outside the log.
    this.#redis.on('error', onError)
  }

  async increment (keys: readonly string[], windowMs: number): Promise<void> {
    const pipeline = this.#redis.pipeline()
    for (const key of keys) pipeline.eval(INCREMENT, 1, this.prefix + key, windowMs)
    for (const [error] of await pipeline.exec() ?? []) {
      if (error !== null) throw error
    }
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

  async ping (): Promise<void> {
    // While ioredis reconnects, a command would wait for a retry; the answer is known already.
    if (this.#redis.status !== 'ready') throw new Error(`the Redis connection is ${this.#redis.status}`)
    await this.#redis.ping()
  }

  async close (): Promise<void> {
    // QUIT waits for an answer: from a server that does not answer, just drop the connection.
    await this.#redis.quit().catch(() => this.#redis.disconnect())
  }
}
