import { PasswordHasher } from '../passwords/hasher.js'

// The one place of the tests' cheap argon2id parameters: the tests exercise the flow, not the cost
// (the lowest memory and time argon2 and the options accept). A test about the cost itself, or one
// that needs a login slow enough to be caught in flight, says so with parameters of its own.

/** As the `argon2` option of PasswordHasher, createUsers and the plugin. */
export const CHEAP_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 }

/** The same as the environment variables the server and the CLI read. */
export const TEST_ARGON2 = {
  ARGON2_MEMORY_COST: String(CHEAP_ARGON2.memoryCost),
  ARGON2_TIME_COST: String(CHEAP_ARGON2.timeCost),
  ARGON2_PARALLELISM: String(CHEAP_ARGON2.parallelism)
}

/** A PasswordHasher with them, for hashes written straight into a store. */
export function cheapHasher (): PasswordHasher {
  return new PasswordHasher({ argon2: CHEAP_ARGON2 })
}
