import { randomUUID } from 'node:crypto'
import { DuplicateUsernameError } from './types.js'
import type { NewUser, SigningKey, Store, User, UserChanges } from './types.js'

/** Keeps everything in process memory: for tests and throw-away runs, never for production. */
export class MemoryStore implements Store {
  readonly #users = new Map<string, User>()
  // Login looks users up by username, every authenticated request by id.
  readonly #idsByUsername = new Map<string, string>()
  // In insertion order, which breaks ties between keys created in the same millisecond.
  readonly #signingKeys: SigningKey[] = []
  #closed = false

  async createUser (user: NewUser): Promise<User> {
    this.#assertOpen()
    if (this.#idsByUsername.has(user.username)) throw new DuplicateUsernameError(user.username)
    const created: User = {
      id: randomUUID(),
      username: user.username,
      email: user.email ?? null,
      fullName: user.fullName ?? null,
      scopes: [...user.scopes],
      disabled: false,
      passwordHash: user.passwordHash,
      tokenVersion: 0,
      createdAt: Date.now()
    }
    this.#users.set(created.id, created)
    this.#idsByUsername.set(created.username, created.id)
    return copyUser(created)
  }

  async findUserByUsername (username: string): Promise<User | null> {
    this.#assertOpen()
    const id = this.#idsByUsername.get(username)
    return id === undefined ? null : await this.findUserById(id)
  }

  async findUserById (id: string): Promise<User | null> {
    this.#assertOpen()
    const user = this.#users.get(id)
    return user === undefined ? null : copyUser(user)
  }

  async updateUser (id: string, changes: UserChanges): Promise<User | null> {
    this.#assertOpen()
    const user = this.#users.get(id)
    if (user === undefined) return null
    if (changes.email !== undefined) user.email = changes.email
    if (changes.fullName !== undefined) user.fullName = changes.fullName
    if (changes.scopes !== undefined) user.scopes = [...changes.scopes]
    if (changes.disabled !== undefined) user.disabled = changes.disabled
    if (changes.passwordHash !== undefined) user.passwordHash = changes.passwordHash
    if (changes.revokeTokens === true) user.tokenVersion++
    return copyUser(user)
  }

  async removeUser (id: string): Promise<boolean> {
    this.#assertOpen()
    const user = this.#users.get(id)
    if (user === undefined) return false
    this.#users.delete(id)
    this.#idsByUsername.delete(user.username)
    return true
  }

  async listUsers (): Promise<User[]> {
    this.#assertOpen()
    return [...this.#users.values()]
      .sort((a, b) => compareCodePoints(a.username, b.username))
      .map(copyUser)
  }

  async countUsers (): Promise<number> {
    this.#assertOpen()
    return this.#users.size
  }

  async listSigningKeys (): Promise<SigningKey[]> {
    this.#assertOpen()
    return this.#signingKeys
      .map((key, index) => ({ key, index }))
      .sort((a, b) => b.key.createdAt - a.key.createdAt || b.index - a.index)
      .map(({ key }) => ({ ...key }))
  }

  async addFirstSigningKey (key: SigningKey): Promise<SigningKey[]> {
    this.#assertOpen()
    if (this.#signingKeys.length === 0) this.#signingKeys.push({ ...key })
    return await this.listSigningKeys()
  }

  async ping (): Promise<void> {
    this.#assertOpen()
  }

  async close (): Promise<void> {
    this.#closed = true
  }

  // A closed store fails like a closed database would, so code tested against memory behaves as in production.
  #assertOpen (): void {
    if (this.#closed) throw new Error('the store is closed')
  }
}

function copyUser (user: User): User {
  return { ...user, scopes: [...user.scopes] }
}

/**
 * Orders by Unicode code point, as SQLite's BINARY collation orders UTF-8, where `<` on strings
 * compares UTF-16 code units and would put "😀" before "\uFFFD".
 */
function compareCodePoints (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
