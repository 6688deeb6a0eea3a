import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { migrations } from './sqlite-migrations.js'
import { DuplicateUsernameError } from './types.js'
import type { NewUser, SigningAlgorithm, SigningKey, Store, User, UserChanges } from './types.js'

// How long a statement waits for another connection's lock before it fails with SQLITE_BUSY.
const BUSY_TIMEOUT_MS = 5000

interface UserRow {
  id: string
  username: string
  email: string | null
  full_name: string | null
  scopes: string
  disabled: number
  password_hash: string
  token_version: number
  created_at: number
}

interface SigningKeyRow {
  kid: string
  alg: SigningAlgorithm
  private_key: string
  public_key: string
  created_at: number
}

/**
 * A store in one SQLite file, which several processes on one host may share. The methods return
 * promises although better-sqlite3 is synchronous, so that callers are written for every backend.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database
  readonly #statements: ReturnType<typeof prepareStatements>
  readonly #insertFirstSigningKey: Database.Transaction<(key: SigningKey) => SigningKeyRow[]>

  /** Opens, creating it if needed, and migrates the database at `filename`, or an in-memory one for ':memory:'. */
  constructor (filename: string) {
    if (filename !== ':memory:') fs.mkdirSync(path.dirname(filename), { recursive: true })
    const db = new Database(filename)
    try {
      // Set first, so that the statements below wait for another process opening the same file.
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
      if (filename !== ':memory:') enableWal(db)
      // NORMAL may lose the last commits on power loss; a user told "created" must stay created.
      db.pragma('synchronous = FULL')
      db.pragma('foreign_keys = ON')
      migrate(db)
    } catch (err) {
      db.close()
      throw err
    }
    this.#db = db
    const statements = prepareStatements(db)
    this.#statements = statements
    this.#insertFirstSigningKey = db.transaction((key: SigningKey) => {
      statements.insertSigningKeyIfNone.run({
        kid: key.kid,
        alg: key.alg,
        privateKey: key.privateKey,
        publicKey: key.publicKey,
        createdAt: key.createdAt
      })
      return statements.listSigningKeys.all()
    })
  }

  async createUser (user: NewUser): Promise<User> {
    try {
      const row = this.#statements.insertUser.get({
        id: randomUUID(),
        username: user.username,
        email: user.email ?? null,
        fullName: user.fullName ?? null,
        scopes: JSON.stringify(user.scopes),
        passwordHash: user.passwordHash,
        createdAt: Date.now()
      })
      return rowToUser(row as UserRow)
    } catch (err) {
      // The username is the only UNIQUE column; a colliding random id would be SQLITE_CONSTRAINT_PRIMARYKEY.
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new DuplicateUsernameError(user.username)
      }
      throw err
    }
  }

  async findUserByUsername (username: string): Promise<User | null> {
    const row = this.#statements.userByUsername.get(username)
    return row === undefined ? null : rowToUser(row)
  }

  async findUserById (id: string): Promise<User | null> {
    const row = this.#statements.userById.get(id)
    return row === undefined ? null : rowToUser(row)
  }

  async updateUser (id: string, changes: UserChanges): Promise<User | null> {
    const row = this.#statements.updateUser.get({
      id,
      setEmail: changes.email === undefined ? 0 : 1,
      email: changes.email ?? null,
      setFullName: changes.fullName === undefined ? 0 : 1,
      fullName: changes.fullName ?? null,
      scopes: changes.scopes === undefined ? null : JSON.stringify(changes.scopes),
      disabled: changes.disabled === undefined ? null : Number(changes.disabled),
      passwordHash: changes.passwordHash ?? null,
      revokeTokens: changes.revokeTokens === true ? 1 : 0
    })
    return row === undefined ? null : rowToUser(row)
  }

  async removeUser (id: string): Promise<boolean> {
    return this.#statements.deleteUser.run(id).changes > 0
  }

  async listUsers (): Promise<User[]> {
    return this.#statements.listUsers.all().map(rowToUser)
  }

  async countUsers (): Promise<number> {
    return this.#statements.countUsers.get() as number
  }

  async listSigningKeys (): Promise<SigningKey[]> {
    return this.#statements.listSigningKeys.all().map(rowToSigningKey)
  }

  async addFirstSigningKey (key: SigningKey): Promise<SigningKey[]> {
    // IMMEDIATE takes the write lock before the check, so that two processes starting at once cannot both see no key.
    return this.#insertFirstSigningKey.immediate(key).map(rowToSigningKey)
  }

  async ping (): Promise<void> {
    this.#statements.ping.get()
  }

  async close (): Promise<void> {
    this.#db.close()
  }
}

/**
 * Switches a file to WAL, so that readers do not wait for the writer. SQLite answers SQLITE_BUSY
 * without waiting, or leaves the mode unchanged, while another process switches the same new file,
 * so this retries until the busy timeout.
 */
function enableWal (db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS
  for (;;) {
    try {
      if (db.pragma('journal_mode = WAL', { simple: true }) === 'wal') return
    } catch (err) {
      if (!(err instanceof Database.SqliteError && err.code === 'SQLITE_BUSY')) throw err
    }
    if (Date.now() >= deadline) throw new Error('could not switch the SQLite database to WAL: it stayed locked')
    // The constructor is synchronous, as the busy timeout's own waits are.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
  }
}

/**
 * Applies every migration the database lacks, each in its own IMMEDIATE transaction that checks
 * again under the write lock, so that of two processes opening a new file only one applies it.
 */
function migrate (db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    ) STRICT
  `)
  const appliedVersions = db.prepare<[], number>('SELECT version FROM schema_migrations').pluck()
  const isApplied = db.prepare<[number], number>('SELECT 1 FROM schema_migrations WHERE version = ?').pluck()
  const record = db.prepare<[number, string, number]>(
    'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)'
  )
  const apply = db.transaction((migration: typeof migrations[number]) => {
    if (isApplied.get(migration.version) !== undefined) return
    db.exec(migration.sql)
    record.run(migration.version, migration.name, Date.now())
  })

  const applied = new Set(appliedVersions.all())
  for (const migration of migrations) {
    if (!applied.has(migration.version)) apply.immediate(migration)
  }
}

function prepareStatements (db: Database.Database) {
  return {
    insertUser: db.prepare<{
      id: string
      username: string
      email: string | null
      fullName: string | null
      scopes: string
      passwordHash: string
      createdAt: number
    }, UserRow>(`
      INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
      VALUES (@id, @username, @email, @fullName, @scopes, 0, @passwordHash, 0, @createdAt)
      RETURNING *
    `),
    userByUsername: db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?'),
    userById: db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
    // One statement for every combination of changes, so that it is prepared once and the
    // token_version raise lands in the same write as the change that calls for it.
    updateUser: db.prepare<{
      id: string
      setEmail: number
      email: string | null
      setFullName: number
      fullName: string | null
      scopes: string | null
      disabled: number | null
      passwordHash: string | null
      revokeTokens: number
    }, UserRow>(`
      UPDATE users SET
        email = CASE WHEN @setEmail THEN @email ELSE email END,
        full_name = CASE WHEN @setFullName THEN @fullName ELSE full_name END,
        scopes = coalesce(@scopes, scopes),
        disabled = coalesce(@disabled, disabled),
        password_hash = coalesce(@passwordHash, password_hash),
        token_version = token_version + @revokeTokens
      WHERE id = @id
      RETURNING *
    `),
    deleteUser: db.prepare<[string]>('DELETE FROM users WHERE id = ?'),
    // BINARY collation: code point order, which MemoryStore reproduces.
    listUsers: db.prepare<[], UserRow>('SELECT * FROM users ORDER BY username'),
    countUsers: db.prepare<[], number>('SELECT count(*) FROM users').pluck(),
    // rowid follows insertion, so keys created in the same millisecond still list newest first.
    listSigningKeys: db.prepare<[], SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at DESC, rowid DESC'),
    insertSigningKeyIfNone: db.prepare<{
      kid: string
      alg: SigningAlgorithm
      privateKey: string
      publicKey: string
      createdAt: number
    }>(`
      INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at)
      SELECT @kid, @alg, @privateKey, @publicKey, @createdAt
      WHERE NOT EXISTS (SELECT 1 FROM signing_keys)
    `),
    ping: db.prepare('SELECT 1')
  }
}

function rowToUser (row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    fullName: row.full_name,
    scopes: JSON.parse(row.scopes),
    disabled: row.disabled === 1,
    passwordHash: row.password_hash,
    tokenVersion: row.token_version,
    createdAt: row.created_at
  }
}

function rowToSigningKey (row: SigningKeyRow): SigningKey {
  return {
    kid: row.kid,
    alg: row.alg,
    privateKey: row.private_key,
    publicKey: row.public_key,
    createdAt: row.created_at
  }
}
