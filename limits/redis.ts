import { importWithDriver } from '../store/drivers.js'
import type { Count, Counter, Limited } from './counter.js'

/**
 * INCR, and on the first increment PEXPIRE, atomically: only the first failure starts the window,
 * so steady guessing cannot keep extending it (and no Redis 7 `PEXPIRE NX` is needed).
 */
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`

/**
 * Counter.take in one script, which Redis runs without interleaving another command: of concurrent
 * attempts, only as many as the limit allows find the counts below it. ARGV[1] is the window; the
 * limit of KEYS[i] is ARGV[i + 1], and a negative limit never blocks.
 */
const TAKE = `
local blocked = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  if limit >= 0 and tonumber(redis.call('GET', key) or '0') >= limit then
    blocked = math.max(blocked, redis.call('PTTL', key), 1)
  end
end
if blocked > 0 then return blocked end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0`

const RELEASE = `
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0`

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
  eval (script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>
  del (...keys: string[]): Promise<number>
  ping (): Promise<string>
  /** ioredis's connection state: 'ready' once it can take commands. */
  readonly status: string
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

  /** The client, for other state the instances share through the same Redis under the same prefix. */
  get client (): RedisClient {
    return this.#redis
  }

  get prefix (): string {
    return this.#prefix
  }

  async take (entries: readonly Limited[], windowMs: number): Promise<number | null> {
    const limits = entries.map(entry => entry.limit === Infinity ? -1 : entry.limit)
    const blocked = Number(await this.#redis.eval(TAKE, entries.length, ...entries.map(entry => this.#prefix + entry.key), windowMs, ...limits))
    return blocked > 0 ? blocked : null
  }

  async release (keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#redis.eval(RELEASE, keys.length, ...keys.map(key => this.#prefix + key))
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

  async ping (): Promise<void> {
    // While ioredis reconnects, a command would wait for a retry; the answer is known already.
    if (this.#redis.status !== 'ready') throw new Error(`the Redis connection is ${this.#redis.status}`)
    await this.#redis.ping()
  }

  async close (): Promise<void> {
    await this.#quit()
  }
}
