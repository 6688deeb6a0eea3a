import type { Store, User } from '../store/types.js'

/**
 * What `authenticate` knows of the users whose tokens it sees, read from the store once per user
 * and kept until the revocation feed says the user changed (tokens/revocations.ts), so that a
 * request with a known user reads nothing from the store. Bounded: when full, the oldest goes.
 */
export class UserCache {
  readonly #users = new Map<string, User | null>()
  /** Reads in flight, shared by the requests that wait for the same user. */
  readonly #reading = new Map<string, Promise<User | null>>()
  /** Raised by every change: a read that began before one is not kept, since it may predate it. */
  #generation = 0

  constructor (private readonly store: Store, private readonly maxEntries = 10_000) {}

  /** The user as known here without a read: null if they do not exist, undefined if not known. */
  known (id: string): User | null | undefined {
    return this.#users.get(id)
  }

  async get (id: string): Promise<User | null> {
    const known = this.#users.get(id)
    if (known !== undefined) return known
    let reading = this.#reading.get(id)
    if (reading === undefined) {
      reading = this.#read(id).finally(() => this.#reading.delete(id))
      this.#reading.set(id, reading)
    }
    return await reading
  }

  /** The user changed: read them again next time. */
  forget (id: string): void {
    this.#generation++
    this.#users.delete(id)
    this.#reading.delete(id)
  }

  clear (): void {
    this.#generation++
    this.#users.clear()
    this.#reading.clear()
  }

  async #read (id: string): Promise<User | null> {
    const generation = this.#generation
    const user = await this.store.findUserById(id)
    if (generation === this.#generation) {
      if (this.#users.size >= this.maxEntries) this.#users.delete(this.#users.keys().next().value as string)
      this.#users.set(id, user)
    }
    return user
  }
}
