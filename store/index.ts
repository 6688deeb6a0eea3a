import { importWithDriver, requireDriver } from './drivers.js'
import { MemoryStore } from './memory.js'
import { SqliteWorkerStore } from './sqlite-worker.js'
import type { Store } from './types.js'

export * from './types.js'
export * from './errors.js'
// PostgresStore (store/postgres.ts) and SqliteStore (store/sqlite.ts) import their drivers, so
// nothing here imports them before a store of theirs is opened.
export { MemoryStore, SqliteWorkerStore }

const SUPPORTED_FORMS = "'sqlite:<path>' (e.g. 'sqlite:./data/auth.db', 'sqlite::memory:'), " +
  "'postgres://…' or 'postgresql://…' (optionally with '?schema=<name>'), and 'memory:'"

export interface OpenStoreOptions {
  /** How messages name the URL: the setting it came from, such as `DATABASE_URL` or `option "store"`. */
  name?: string
}

/** Opens the store that a URL names (`sqlite:<path>`, `postgres://…`, `memory:`), loading its driver only then. */
export async function openStore (url: string, { name = 'the store URL' }: OpenStoreOptions = {}): Promise<Store> {
  if (url === 'memory:') return new MemoryStore()
  if (url.startsWith('sqlite:')) {
    const filename = url.slice('sqlite:'.length)
    // better-sqlite3 would take an empty name for a temporary database, which is never what a configuration means.
    if (filename === '') throw new Error(`${name} 'sqlite:' names no file; the supported forms are ${SUPPORTED_FORMS}`)
    // Checked here: in the worker thread, a missing driver would only say that the thread failed to start.
    requireDriver('better-sqlite3', `${name} names a SQLite database`)
    return await SqliteWorkerStore.open(filename)
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { connectionString, schema } = takeSchema(url, name)
    const { PostgresStore } = await importWithDriver('pg', `${name} names a PostgreSQL database`, () => import('./postgres.js'))
    return await PostgresStore.open(connectionString, schema === null ? {} : { schema })
  }
  // Only the scheme is shown: the rest of a URL may hold a password.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]
  const named = scheme === undefined ? 'is a URL without a scheme' : `has the scheme '${scheme}:'`
  throw new Error(`${name} ${named}, which is not one of the supported forms, ${SUPPORTED_FORMS}`)
}

/**
 * Takes the `schema` parameter, which is this package's and none of pg's, out of a PostgreSQL URL.
 * The query string is split off by hand rather than with `new URL()`, which refuses some URLs that
 * pg accepts, such as 'postgres://user@/db?host=/run/postgresql' for a Unix socket.
 */
function takeSchema (url: string, name: string): { connectionString: string, schema: string | null } {
  const start = url.indexOf('?')
  if (start === -1) return { connectionString: url, schema: null }
  const params = new URLSearchParams(url.slice(start + 1))
  const schema = params.get('schema')
  if (schema === null) return { connectionString: url, schema: null }
  if (schema === '') throw new Error(`${name} has an empty 'schema' parameter; the supported forms are ${SUPPORTED_FORMS}`)
  params.delete('schema')
  const rest = params.toString()
  return { connectionString: rest === '' ? url.slice(0, start) : `${url.slice(0, start)}?${rest}`, schema }
}
