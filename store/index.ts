import { MemoryStore } from './memory.js'
import { SqliteStore } from './sqlite.js'
import type { Store } from './types.js'

export * from './types.js'
export { MemoryStore, SqliteStore }

const SUPPORTED_FORMS = "'sqlite:<path>' (e.g. 'sqlite:./data/auth.db', 'sqlite::memory:') and 'memory:'"

/** Opens the store that a `DATABASE_URL` names. */
export async function openStore (url: string): Promise<Store> {
  if (url === 'memory:') return new MemoryStore()
  if (url.startsWith('sqlite:')) {
    const filename = url.slice('sqlite:'.length)
    // better-sqlite3 would take an empty name for a temporary database, which is never what a configuration means.
    if (filename === '') throw new Error(`DATABASE_URL 'sqlite:' names no file; the supported forms are ${SUPPORTED_FORMS}`)
    return new SqliteStore(filename)
  }
  // Only the scheme is shown: the rest of a URL may hold a password.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]
  const named = scheme === undefined ? 'a DATABASE_URL without a scheme' : `a DATABASE_URL with scheme '${scheme}:'`
  throw new Error(`unsupported DATABASE_URL: ${named} is not one of the supported forms, ${SUPPORTED_FORMS}`)
}
