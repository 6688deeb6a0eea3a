import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { StoreUnavailableError } from './errors.js'
import { requireDriver } from './drivers.js'
import { DuplicateClientError, DuplicateUsernameError, type Store } from './types.js'
import { STORE_METHODS } from './methods.js'

/** A call to the store in the worker; id 0 is the worker's answer to opening the database. */
export interface Call {
  id: number
  method: keyof Store
  args: unknown[]
}

export interface ThrownError {
  /** `unavailable`: the disk, the file or a lock failed (rebuilt as StoreUnavailableError). */
  kind: 'duplicate-username' | 'duplicate-client' | 'unavailable' | 'error'
  message: string
  /** The username or client id of a duplicate. */
  key?: string
  code?: string | undefined
}

export type Reply = { id: number, value: unknown } | { id: number, error: ThrownError }

function rebuild (error: ThrownError): Error {
  if (error.kind === 'duplicate-username') return new DuplicateUsernameError(error.key ?? '')
  if (error.kind === 'duplicate-client') return new DuplicateClientError(error.key ?? '')
  const rebuilt = Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code })
  return error.kind === 'unavailable' ? new StoreUnavailableError({ cause: rebuilt }) : rebuilt
}

// Always the built JavaScript. The tests load the TypeScript sources (after `npm run build`), and a
// thread that compiled them would take a second to start, where the built one takes milliseconds.
const WORKER = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/store/sqlite-thread.js' : './sqlite-thread.js', import.meta.url))

/**
 * A SqliteStore in a worker thread. better-sqlite3 is synchronous, and with `synchronous = FULL`
 * every commit waits for the disk (fsync): on the calling thread a login's write would stall
 * every other request for as long, several milliseconds while argon2 keeps the memory busy. Here
 * the event loop only posts the call and is free until the answer comes back.
 */
export class SqliteWorkerStore implements Store {
  static {
    for (const method of STORE_METHODS) {
      if (method === 'close') continue
      Object.defineProperty(SqliteWorkerStore.prototype, method, {
        value: function (this: SqliteWorkerStore, ...args: unknown[]) { return this.#call(method, ...args) },
        writable: true,
        configurable: true
      })
    }
  }

  readonly #worker: Worker
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (error: Error) => void }>()
  #nextId = 1
  /** Set once the worker is gone: every call from then on fails with it. */
  #failure: Error | null = null

  private constructor (worker: Worker) {
    this.#worker = worker
    worker.on('message', (reply: Reply) => this.#settle(reply))
    worker.on('error', error => this.#fail(error))
    worker.on('exit', code => this.#fail(new Error(`the SQLite worker thread exited (${code})`)))
    // The worker keeps the process alive only while a call waits for it, as a socket would.
    worker.unref()
  }

  /** Opens, creating and migrating it if needed, the database at `filename` (or ':memory:') in a new worker thread. */
  static async open (filename: string): Promise<SqliteWorkerStore> {
    requireDriver('better-sqlite3', 'SqliteWorkerStore keeps a SQLite database')
    // No execArgv: the process's flags and loaders (the tests' TypeScript one) are not the thread's business.
    const worker = new Worker(WORKER, { workerData: filename, execArgv: [] })
    const opened = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
      worker.once('exit', code => reject(new Error(`the SQLite worker thread exited (${code}) before opening the database`)))
    })
    if ('error' in opened) {
      await worker.terminate()
      throw rebuild(opened.error)
    }
    return new SqliteWorkerStore(worker)
  }

  #settle (reply: Reply): void {
    const call = this.#pending.get(reply.id)
    if (call === undefined) return
    this.#pending.delete(reply.id)
    if (this.#pending.size === 0) this.#worker.unref()
    if ('error' in reply) call.reject(rebuild(reply.error))
    else call.resolve(reply.value)
  }

  #fail (error: Error): void {
    this.#failure ??= error
    for (const call of this.#pending.values()) call.reject(error)
    this.#pending.clear()
  }

  #call<T> (method: keyof Store, ...args: unknown[]): Promise<T> {
    if (this.#failure !== null) return Promise.reject(this.#failure)
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref()
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.#worker.postMessage({ id, method, args } satisfies Call)
    })
  }

  /** Closes the database, then the thread; a second close does nothing. */
  async close (): Promise<void> {
    if (this.#failure !== null) return
    await this.#call('close')
    this.#failure = new Error('the store is closed')
    await this.#worker.terminate()
  }
}

// Every method but close is a call to the worker, made from STORE_METHODS in the class's static
// block: this declaration gives them their types.
export interface SqliteWorkerStore extends Omit<Store, 'close'> {}
