import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { migrations } from './postgres-migrations.js'
import {
  rowToClient, rowToRefreshFamily, rowToRefreshToken, rowToSigningKey, rowToUser,
  type ClientRow, type RefreshTokenWithFamilyRow, type SigningKeyRow, type UserRow
} from './rows.js'
import { DuplicateClientError, DuplicateUsernameError } from './types.js'
import type {
  Client,
  NewRefreshToken,
  NewUser,
  RefreshFamily,
  RefreshToken,
  RotationResult,
  SigningAlgorithm,
  SigningKey,
  Store,
  User,
  UserChanges
} from './types.js'

// The transaction-scoped advisory lock under which every instance migrates and adds the first signing
// key, so that instances starting at the same moment do both one after the other. Any constant does,
// as long as every instance uses the same one.
const LOCK_KEY = 7_104_351_256_017_223

// SQLSTATE unique_violation.
const UNIQUE_VIOLATION = '23505'

// pg returns BIGINT as a string, since one may not fit a double; ours are epoch milliseconds and counts, which do.
const types = new pg.TypeOverrides()
types.setTypeParser(pg.types.builtins.INT8, Number)

const SELECT_SIGNING_KEYS = `
  SELECT kid, alg, private_key, public_key, created_at FROM signing_keys ORDER BY created_at DESC, seq DESC
`

const SELECT_REFRESH_TOKEN_WITH_FAMILY = `
  SELECT f.*, t.hash, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.spent_at
  FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
  WHERE t.hash = $1
`

const INSERT_REFRESH_TOKEN = `
  INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, spent_at) VALUES ($1, $2, $3, $4, NULL)
`

/** What the store asks of one connection: pg's PoolClient, or fromPool's wrapper of one. */
interface Connection {
  query<Row extends pg.QueryResultRow = pg.QueryResultRow> (text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>
  release (error?: Error): void
}

/** What the store asks of its pool: pg's Pool, or fromPool's wrapper of a host's. */
interface Connections {
  query<Row extends pg.QueryResultRow = pg.QueryResultRow> (text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>
  connect (): Promise<Connection>
  end (): Promise<void>
}

/**
 * A store in one schema of a PostgreSQL database, which any number of instances may share. Each
 * instance keeps a pool of connections, every one of them with the schema as its search_path.
 */
export class PostgresStore implements Store {
  readonly #pool: Connections
  #ended: Promise<void> | undefined

  private constructor (pool: Connections) {
    this.#pool = pool
  }

  /**
   * A store on a pool the host made and owns: the tables live in the pool's search_path (normally
   * `public`), and `close()` leaves the pool open. Each query brings its own type parsers, so that
   * the host's queries keep pg's defaults.
   */
  static async fromPool (pool: pg.Pool): Promise<PostgresStore> {
    // Closing ends the store, not the pool: from then on the store refuses work, as it would on an ended pool of its own.
    let closed = false
    const typed = (target: pg.Pool | pg.PoolClient) =>
      async <Row extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>> => {
        if (closed) throw new Error('the store is closed')
        return await target.query<Row>({ text, values, types })
      }
    const store = new PostgresStore({
      query: typed(pool),
      connect: async () => {
        if (closed) throw new Error('the store is closed')
        const client = await pool.connect()
        return { query: typed(client), release: error => client.release(error) }
      },
      end: async () => { closed = true }
    })
    await store.#migrate(null)
    return store
  }

  /**
   * Connects to the database at `url`, creates `schema` (default `public`) if it is missing, and
   * migrates it. Errors never repeat the URL, which may hold a password.
   */
  static async open (url: string, options: { schema?: string } = {}): Promise<PostgresStore> {
    const schema = options.schema ?? 'public'
    const setSearchPath = `SET search_path TO ${pg.escapeIdentifier(schema)}`
    const pool = new pg.Pool({
      connectionString: url,
      types,
      // An unreachable server fails a query in 10 s rather than after the operating system's timeout.
      connectionTimeoutMillis: 10_000,
      // The pool awaits this before it hands a new connection out, so that no query runs in another schema.
      onConnect: async client => { await client.query(setSearchPath) }
    })
    // The pool drops an idle connection that fails and opens another when needed; without a listener
    // that failure would be an uncaught 'error' event, which ends the process.
    pool.on('error', () => {})
    const store = new PostgresStore(pool)
    try {
      await store.#migrate(schema)
    } catch (err) {
      await pool.end()
      throw err
    }
    return store
  }

  async createUser (user: NewUser): Promise<User> {
    try {
      const { rows } = await this.#pool.query<UserRow>(`
        INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
        VALUES ($1, $2, $3, $4, $5, false, $6, 0, $7)
        RETURNING *
      `, [
        randomUUID(),
        user.username,
        user.email ?? null,
        user.fullName ?? null,
        JSON.stringify(user.scopes),
        user.passwordHash,
        Date.now()
      ])
      return rowToUser(rows[0]!)
    } catch (err) {
      // Named, so that a colliding random id, a primary-key violation, is not taken for a taken username.
      if (err instanceof pg.DatabaseError && err.code === UNIQUE_VIOLATION && err.constraint === 'users_username_key') {
        throw new DuplicateUsernameError(user.username)
      }
      throw err
    }
  }

  async findUserByUsername (username: string): Promise<User | null> {
    const { rows } = await this.#pool.query<UserRow>('SELECT * FROM users WHERE username = $1', [username])
    return rows[0] === undefined ? null : rowToUser(rows[0])
  }

  async findUserById (id: string): Promise<User | null> {
    const { rows } = await this.#pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])
    return rows[0] === undefined ? null : rowToUser(rows[0])
  }

  async updateUser (id: string, changes: UserChanges): Promise<User | null> {
    // One statement for every combination of changes, so that the token_version raise lands in the
    // same write as the change that calls for it.
    const { rows } = await this.#pool.query<UserRow>(`
      UPDATE users SET
        email = CASE WHEN $2::boolean THEN $3::text ELSE email END,
        full_name = CASE WHEN $4::boolean THEN $5::text ELSE full_name END,
        scopes = coalesce($6::jsonb, scopes),
        disabled = coalesce($7::boolean, disabled),
        password_hash = coalesce($8::text, password_hash),
        token_version = token_version + $9::integer
      WHERE id = $1
      RETURNING *
    `, [
      id,
      changes.email !== undefined,
      changes.email ?? null,
      changes.fullName !== undefined,
      changes.fullName ?? null,
      changes.scopes === undefined ? null : JSON.stringify(changes.scopes),
      changes.disabled ?? null,
      changes.passwordHash ?? null,
      changes.revokeTokens === true ? 1 : 0
    ])
    return rows[0] === undefined ? null : rowToUser(rows[0])
  }

  async removeUser (id: string): Promise<boolean> {
    // ON DELETE CASCADE takes the user's refresh families and their tokens.
    const { rowCount } = await this.#pool.query('DELETE FROM users WHERE id = $1', [id])
    return rowCount !== null && rowCount > 0
  }

  async listUsers (): Promise<User[]> {
    // Code point order, as the other stores list them, whatever the database's default collation.
    const { rows } = await this.#pool.query<UserRow>('SELECT * FROM users ORDER BY username COLLATE "C"')
    return rows.map(rowToUser)
  }

  async countUsers (): Promise<number> {
    const { rows } = await this.#pool.query<{ count: number }>('SELECT count(*) AS count FROM users')
    return rows[0]!.count
  }

  async listSigningKeys (): Promise<SigningKey[]> {
    const { rows } = await this.#pool.query<SigningKeyRow>(SELECT_SIGNING_KEYS)
    return rows.map(rowToSigningKey)
  }

  async addFirstSigningKey (key: SigningKey): Promise<SigningKey[]> {
    return await this.#transaction(async client => {
      // Taken before the check, so that two instances starting at once cannot both see no key: each
      // statement after it reads what the lock's previous holder committed.
      await client.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`)
      await client.query(`
        INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at)
        SELECT $1, $2, $3, $4, $5
        WHERE NOT EXISTS (SELECT 1 FROM signing_keys)
      `, signingKeyValues(key))
      const { rows } = await client.query<SigningKeyRow>(SELECT_SIGNING_KEYS)
      return rows.map(rowToSigningKey)
    })
  }

  async addSigningKey (key: SigningKey): Promise<void> {
    await this.#pool.query(`
      INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at) VALUES ($1, $2, $3, $4, $5)
    `, signingKeyValues(key))
  }

  async removeSigningKeys (kids: readonly string[]): Promise<void> {
    if (kids.length === 0) return
    await this.#pool.query('DELETE FROM signing_keys WHERE kid = ANY ($1::text[])', [kids])
  }

  async createRefreshFamily (family: Omit<RefreshFamily, 'revokedAt'>, first: NewRefreshToken): Promise<void> {
    await this.#transaction(async client => {
      await client.query(`
        INSERT INTO refresh_families (id, user_id, client_id, scopes, token_version, created_at, expires_at, revoked_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
      `, [
        family.id,
        family.userId,
        family.clientId,
        JSON.stringify(family.scopes),
        family.tokenVersion,
        family.createdAt,
        family.expiresAt
      ])
      await client.query(INSERT_REFRESH_TOKEN, refreshTokenValues(first, family))
    })
  }

  async rotateRefreshToken (hash: string, next: NewRefreshToken, now: number): Promise<RotationResult> {
    return await this.#transaction(async client => {
      // The row lock makes a concurrent rotation of the same token wait here until this one ends,
      // and then read the token as this one left it: spent.
      const { rows } = await client.query<RefreshTokenWithFamilyRow>(`${SELECT_REFRESH_TOKEN_WITH_FAMILY} FOR UPDATE OF t`, [hash])
      const row = rows[0]
      if (row === undefined) return { outcome: 'invalid' }
      const family = rowToRefreshFamily(row)
      if (family.revokedAt !== null || family.expiresAt <= now) return { outcome: 'invalid' }
      // Before the expiry check, so that reuse of a spent token is reported however old it is.
      if (row.spent_at !== null) return { outcome: 'spent', family, spentAt: row.spent_at }
      if (row.token_expires_at <= now) return { outcome: 'invalid' }
      // The row is locked since the lookup, so the token is still live; throwing rolls back all of it.
      const spent = await client.query('UPDATE refresh_tokens SET spent_at = $1 WHERE hash = $2 AND spent_at IS NULL', [now, hash])
      if (spent.rowCount !== 1) throw new Error('the refresh token was spent during its rotation')
      await client.query(INSERT_REFRESH_TOKEN, refreshTokenValues(next, family))
      return { outcome: 'rotated', family }
    })
  }

  async findRefreshToken (hash: string): Promise<{ token: RefreshToken, family: RefreshFamily } | null> {
    const { rows } = await this.#pool.query<RefreshTokenWithFamilyRow>(SELECT_REFRESH_TOKEN_WITH_FAMILY, [hash])
    const row = rows[0]
    return row === undefined ? null : { token: rowToRefreshToken(row), family: rowToRefreshFamily(row) }
  }

  async revokeRefreshFamily (familyId: string, now: number): Promise<void> {
    // The first revocation's time stands: it is when the family stopped working.
    await this.#pool.query('UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, familyId])
  }

  async revokeAccessToken (jti: string, expiresAt: number): Promise<void> {
    // A second revocation can only lengthen the first: the token it refuses may live that long.
    await this.#pool.query(`
      INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
      ON CONFLICT (jti) DO UPDATE SET expires_at = greatest(revoked_tokens.expires_at, excluded.expires_at)
    `, [jti, expiresAt])
  }

  async isAccessTokenRevoked (jti: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query('SELECT 1 FROM revoked_tokens WHERE jti = $1', [jti])
    return rowCount !== null && rowCount > 0
  }

  async prune (now: number): Promise<void> {
    await this.#transaction(async client => {
      await client.query('DELETE FROM revoked_tokens WHERE expires_at <= $1', [now])
      await client.query('DELETE FROM refresh_tokens WHERE expires_at <= $1', [now])
      // ON DELETE CASCADE takes the families' remaining tokens.
      await client.query('DELETE FROM refresh_families WHERE expires_at <= $1', [now])
    })
  }

  async createClient (client: Client): Promise<void> {
    try {
      await this.#pool.query('INSERT INTO clients (id, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4)', [
        client.id,
        client.secretHash,
        JSON.stringify(client.scopes),
        client.createdAt
      ])
    } catch (err) {
      // The id is the only unique column.
      if (err instanceof pg.DatabaseError && err.code === UNIQUE_VIOLATION) throw new DuplicateClientError(client.id)
      throw err
    }
  }

  async findClient (id: string): Promise<Client | null> {
    const { rows } = await this.#pool.query<ClientRow>('SELECT * FROM clients WHERE id = $1', [id])
    return rows[0] === undefined ? null : rowToClient(rows[0])
  }

  async removeClient (id: string): Promise<boolean> {
    // The families are revoked in the same transaction, so that no one sees the client gone and its families live.
    return await this.#transaction(async client => {
      const { rowCount } = await client.query('DELETE FROM clients WHERE id = $1', [id])
      if (rowCount === 0) return false
      await client.query('UPDATE refresh_families SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL', [Date.now(), id])
      return true
    })
  }

  async listClients (): Promise<Client[]> {
    const { rows } = await this.#pool.query<ClientRow>('SELECT * FROM clients ORDER BY id COLLATE "C"')
    return rows.map(rowToClient)
  }

  async ping (): Promise<void> {
    await this.#pool.query('SELECT 1')
  }

  async close (): Promise<void> {
    // pg rejects a second end(); a second close waits for the first instead, as closing twice works on the other stores.
    this.#ended ??= this.#pool.end()
    await this.#ended
  }

  /**
   * Creates the schema if it is missing and applies every migration it lacks, in one transaction that
   * holds the advisory lock, so that of instances opening a new schema at once only the first applies them.
   */
  async #migrate (schema: string | null): Promise<void> {
    await this.#transaction(async client => {
      await client.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`)
      // Looked up rather than CREATE SCHEMA IF NOT EXISTS, which needs the right to create schemas even when it exists.
      // A host's pool (null) brings its own search_path, whose schema is the host's to create.
      if (schema !== null) {
        const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
        if (rowCount === 0) await client.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
      }
      await client.query(`
        CREATE TABLE IF NOT EXISTS schema_migrations (
          version INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          applied_at BIGINT NOT NULL
        )
      `)
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations')
      const applied = new Set(rows.map(row => row.version))
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue
        await client.query(migration.sql)
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          Date.now()
        ])
      }
    })
  }

  /** Runs `work` on one connection between BEGIN and COMMIT, and rolls back if it throws. */
  async #transaction<T> (work: (client: Connection) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    // A connection whose ROLLBACK failed is in an unknown state: releasing it with the error closes it.
    let broken: Error | undefined
    try {
      // Named, whatever the server's default: after waiting for the advisory lock or a row lock, the
      // next statement must see what the lock's holder committed, which a snapshot from the
      // transaction's first statement (REPEATABLE READ, SERIALIZABLE) would not.
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken = rollbackErr })
      throw err
    } finally {
      client.release(broken)
    }
  }
}

function signingKeyValues (key: SigningKey): [string, SigningAlgorithm, string, string, number] {
  return [key.kid, key.alg, key.privateKey, key.publicKey, key.createdAt]
}

function refreshTokenValues (token: NewRefreshToken, family: Pick<RefreshFamily, 'id' | 'expiresAt'>): [string, string, number, number] {
  return [token.hash, family.id, token.createdAt, Math.min(token.expiresAt, family.expiresAt)]
}
