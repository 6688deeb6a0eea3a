import { parentPort, workerData } from 'node:worker_threads'
import { SqliteStore } from './sqlite.js'
import { DuplicateClientError, DuplicateUsernameError } from './types.js'
import type { Call, Reply, ThrownError } from './sqlite-worker.js'

// The thread in which SqliteWorkerStore's SqliteStore runs: it answers each call in the order it came.

/**
 * SQLite's primary result codes for a disk, a file or a lock that failed rather than a statement that
 * is wrong (https://sqlite.org/rescode.html); better-sqlite3 names the extended ones after them
 * (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED).
 */
const UNAVAILABLE = new Set(['SQLITE_BUSY', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_NOMEM', 'SQLITE_PROTOCOL', 'SQLITE_READONLY'])

/** What crosses back to the caller of an error: enough to rebuild the store's own errors as their classes. */
function thrown (error: unknown): ThrownError {
  if (error instanceof DuplicateUsernameError) return { kind: 'duplicate-username', message: error.message, key: error.username }
  if (error instanceof DuplicateClientError) return { kind: 'duplicate-client', message: error.message, key: error.clientId }
  const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
  const unavailable = code !== undefined && UNAVAILABLE.has(code.split('_', 2).join('_'))
  return { kind: unavailable ? 'unavailable' : 'error', message: error instanceof Error ? error.message : String(error), code }
}

const port = parentPort
if (port === null) throw new Error('store/sqlite-thread runs as a worker thread')

let store: SqliteStore
try {
  store = new SqliteStore(String(workerData))
} catch (error) {
  // The opener terminates this thread once it has read why.
  port.postMessage({ id: 0, error: thrown(error) } satisfies Reply)
  throw error
}
port.postMessage({ id: 0, value: null } satisfies Reply)

port.on('message', ({ id, method, args }: Call) => {
  // SqliteStore's methods do their work synchronously: each call is done before the next message is read.
  const call = (store[method] as (...args: unknown[]) => Promise<unknown>).apply(store, args)
  call.then(
    value => port.postMessage({ id, value } satisfies Reply),
    (error: unknown) => port.postMessage({ id, error: thrown(error) } satisfies Reply)
  )
})
