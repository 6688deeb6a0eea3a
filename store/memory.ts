import { SqliteStore } from './sqlite.js'

/**
 * An in-memory SQLite database, gone when closed: for tests and throw-away runs, never for
 * production. It runs the same SQL as the file store, so what is tested against it is the real
 * thing, constraints and cascades included, rather than a second implementation of the contract.
 */
export class MemoryStore extends SqliteStore {
  constructor () {
    super(':memory:')
  }
}
