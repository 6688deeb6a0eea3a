import { DuplicateClientError, DuplicateUsernameError, type Store } from './types.js'

/** Seconds a client is asked to wait (`Retry-After`) before it tries again after a store failure. */
const STORE_RETRY_AFTER = 5

/**
 * The backing store did not answer, or failed: a database that is down, restarting or out of disk
 * space, a connection dropped in the middle of a call. Whatever the call was writing was rolled back,
 * except that a connection lost while its COMMIT was in flight leaves the outcome unknown.
 *
 * Every built-in store throws it for such failures, and a custom store should too. The message is
 * the same whatever happened, so that it can reach a client; what happened is in `cause`, for the
 * log. `statusCode` and `headers` make any Fastify error handler answer 503 with `Retry-After`.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE'
  readonly statusCode = 503
  readonly headers = { 'retry-after': String(STORE_RETRY_AFTER) }

  constructor (options?: { cause?: unknown }) {
    super('The store did not answer; retry shortly', options)
    this.name = 'StoreUnavailableError'
  }
}

/**
 * `store`, with every error of its `methods` but those of the Store contract (the duplicate errors)
 * turned into StoreUnavailableError: whatever a store throws, built-in or not, no caller can pass its
 * message, code or address on to a client. Each call looks the method up on `store` when it is made.
 */
export function guardStore (store: Store, methods: ReadonlyArray<keyof Store>): Store {
  const guarded: Partial<Record<keyof Store, (...args: unknown[]) => Promise<unknown>>> = {}
  for (const method of methods) {
    guarded[method] = async (...args: unknown[]) => {
      try {
        return await (store[method] as (...args: unknown[]) => Promise<unknown>).apply(store, args)
      } catch (error) {
        if (error instanceof StoreUnavailableError || error instanceof DuplicateUsernameError || error instanceof DuplicateClientError) throw error
        throw new StoreUnavailableError({ cause: error })
      }
    }
  }
  return guarded as unknown as Store
}
