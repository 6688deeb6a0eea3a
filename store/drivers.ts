import { createRequire } from 'node:module'

// The database and Redis drivers are optional peer dependencies: a host installs the ones its
// `store` and `redis` options need, and the modules that use a driver are imported only then.

/** The packages a backend needs, which this package does not install for its users. */
export type Driver = 'pg' | 'better-sqlite3' | 'ioredis'

/** A backend was asked for whose driver package is not installed. */
export class MissingDriverError extends Error {
  readonly code = 'OAUTH2_MISSING_DRIVER'

  /** `what` names the setting that asked for the backend, e.g. `option "store" names a PostgreSQL database`. */
  constructor (readonly driver: Driver, what: string) {
    super(`${what}, which needs the package "${driver}": install it with npm install ${driver}`)
    this.name = 'MissingDriverError'
  }
}

const resolver = createRequire(import.meta.url)

/** Whether `driver` is found from this package, where an import from here would look for it. */
function installed (driver: Driver): boolean {
  try {
    resolver.resolve(driver)
    return true
  } catch {
    return false
  }
}

/** Throws a MissingDriverError unless `driver` is installed; for code that loads it elsewhere, such as a worker thread. */
export function requireDriver (driver: Driver, what: string): void {
  if (!installed(driver)) throw new MissingDriverError(driver, what)
}

/**
 * Imports a module of this package that imports `driver`, such as `./postgres.js` for pg. A
 * failure to import is a MissingDriverError when the driver is what is missing, and itself otherwise.
 */
export async function importWithDriver<T> (driver: Driver, what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (error) {
    requireDriver(driver, what)
    throw error
  }
}
