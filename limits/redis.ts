import { importWithDriver } from '../store/drivers.js'
import type { Count, Counter } from './counter.js'

/**
 * INCR, and on the first increment PEXPIRE, atomically: only the first failure starts the window,
 * so steady guessing cannot keep extending it (and no Redis 7 `PEXPIRE NX` is needed).
 */
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`

/** The commands a RedisCounter queues in one round trip; an ioredis pipeline has them. */
export interface RedisPipeline {
  eval (script: string, numberOfKeys: number, ...args: Array<string | number>): RedisPipeline
  get (key: string): RedisPipeline
  pttl (key: string): RedisPipeline
  exec (): Promise<Array<[error: Error | null, result: unknown]> | null>
}

/**
 * What a RedisCounter asks of a Redis client: an ioredis `Redis` or `Cluster` has it. Declared
 * here so that the plugin's types never need ioredis's, which a host without Redis lacks.
 */
export interface RedisClient {
  pipeline (): RedisPipeline
  del (...keys: string[]): Promise<number>
}

export interface RedisCounterOptions {
  /** Prepended to every key, so that several services can share one Redis. */
  prefix?: string
  /** Ends the connection at `close()`; by default nothing is ended, for a client that someone else owns. */
  quit?: () => Promise<void>
}

/** Counters in Redis, shared by every instance that uses the same server and prefix. */
export class RedisCounter implements Counter {
  readonly #redis: RedisClient
  readonly #prefix: string
  readonly #quit: () => Promise<void>

  constructor (redis: RedisClient, { prefix = 'oauth2-password:', quit = async () => {} }: RedisCounterOptions = {}) {
    this.#redis = redis
    this.#prefix = prefix
    this.#quit = quit
  }

  /**
   * Connects to the Redis at `url` with a client of its own, which `close()` ends. ioredis is
   * imported only now; `what` names the setting that asked for Redis in a missing-driver error.
   */
  static async connect (url: string, onError: (error: Error) => void, { prefix, what = 'a Redis URL' }: { prefix?: string, what?: string } = {}): Promise<RedisCounter> {
    const { Redis } = await importWithDriver('ioredis', what, () => import('ioredis'))
    // Fail a command soon when Redis is down rather than queueing it behind a login: one retry after
    // a refused connection, and a timeout for a server that accepts the connection but never answers.
    const redis = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      connectTimeout: 2000,
      commandTimeout: 2000
    })
    // Without a listener ioredis prints every failed reconnection to stderr, outside the log.
    redis.on('error', onError)
    // QUIT waits for an answer: from a server that does not answer, just drop the connection.
    const quit = async (): Promise<void> => { await redis.quit().then(() => {}, () => redis.disconnect()) }
    return new RedisCounter(redis, { prefix, quit })
  }

  async increment (keys: readonly string[], windowMs: number): Promise<void> {
    const pipeline = this.#redis.pipeline()
    for (const key of keys) pipeline.eval(INCREMENT, 1, this.#prefix + key, windowMs)
    for (const [error] of await pipeline.exec() ?? []) {
      if (error !== null) throw error
    }
  }

  async get (keys: readonly string[]): Promise<Count[]> {
    if (keys.length === 0) return []
    const pipeline = this.#redis.pipeline()
    for (const key of keys) {
      pipeline.get(this.#prefix + key)
      pipeline.pttl(this.#prefix + key)
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
    if (keys.length > 0) await this.#redis.del(...keys.map(key => this.#prefix + key))
  }

  async close (): Promise<void> {
    await this.#quit()
  }
}
