import { createHash, randomUUID } from 'node:crypto'
import pg from 'pg'
import { migrations } from './postgres-migrations.js'
import {
  rowToClient, rowToRefreshFamily, rowToRefreshToken, rowToSession, rowToSigningKey, rowToTotpEnrollment, rowToUser,
  type ClientRow, type RefreshFamilyRow, type RefreshTokenWithFamilyRow, type SigningKeyRow, type TotpEnrollmentRow, type UserRow
} from './rows.js'
import { StoreUnavailableError } from './errors.js'
import { rotationDecision } from './rotation.js'
import { DuplicateClientError, DuplicateUsernameError } from './types.js'
import type {
  Client,
  CodePurpose,
  NewRefreshFamily,
  NewRefreshToken,
  NewUser,
  OneTimeCode,
  RefreshFamily,
  RefreshToken,
  Revocation,
  RotationResult,
  RotationTerms,
  Session,
  SigningAlgorithm,
  SigningKey,
  Store,
  TotpEnrollment,
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

/** A statement PostgreSQL parses and plans once per connection instead of on every call. */
interface PreparedStatement {
  name: string
  text: string
}

/**
 * The statements of the request path (a login, a refresh, the revocation feed), prepared: a refresh's
 * rotation runs about twice as often per second so. Named after their text, so that two versions of
 * the package on one host pool never give one name to two statements. Each names its columns: a
 * column a later version adds must not change the rows of a statement an older instance prepared,
 * which PostgreSQL refuses ("cached plan must not change result type").
 */
function prepared (text: string): PreparedStatement {
  return { name: `oauth2_password_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`, text }
}

const USER_COLUMN_NAMES = ['id', 'username', 'email', 'email_verified', 'full_name', 'scopes', 'disabled', 'password_hash', 'token_version', 'created_at'] as const
const USER_COLUMNS = USER_COLUMN_NAMES.join(', ')
/** The columns of the users table `u` beside another table's, each named with the prefix `u_`. */
const PREFIXED_USER_COLUMNS = USER_COLUMN_NAMES.map(name => `u.${name} AS u_${name}`).join(', ')
const FAMILY_COLUMNS = 'f.id, f.user_id, f.client_id, f.scopes, f.token_version, f.created_at, f.expires_at, f.revoked_at, f.jkt, f.last_used_at'

const SELECT_USER_BY_ID = prepared(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`)
const SELECT_USER_BY_USERNAME = prepared(`SELECT ${USER_COLUMNS} FROM users WHERE username = $1`)
const SELECT_CLIENT = prepared('SELECT id, secret_hash, scopes, created_at FROM clients WHERE id = $1')

const SELECT_REVOCATIONS_SINCE = prepared(`
  SELECT 'access_token' AS kind, jti AS id, revoked_at AS at, expires_at AS "expiresAt" FROM revoked_tokens WHERE revoked_at >= $1
  UNION ALL SELECT 'refresh_family', id, revoked_at, NULL FROM refresh_families WHERE revoked_at >= $1
  UNION ALL SELECT 'user', user_id, changed_at, NULL FROM user_changes WHERE changed_at >= $1
`)

const SELECT_SIGNING_KEYS = `
  SELECT kid, alg, private_key, public_key, created_at FROM signing_keys ORDER BY created_at DESC, seq DESC
`

const SELECT_REFRESH_TOKEN_WITH_FAMILY = prepared(`
  SELECT ${FAMILY_COLUMNS}, t.hash, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.spent_at
  FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
  WHERE t.hash = $1
`)

/** The statement, for a WITH clause, that records a change of the users in `source` at the time `at`. */
const RECORD_USER_CHANGE = (source: string, at: string): string => `
  INSERT INTO user_changes (user_id, changed_at) SELECT id, ${at}::bigint FROM ${source}
  ON CONFLICT (user_id) DO UPDATE SET changed_at = excluded.changed_at
`

/**
 * A refresh grant's reads and writes in one statement, so that it costs one round trip. The row lock
 * makes a concurrent rotation of the same token wait until this one commits; under READ COMMITTED it
 * then reads the token as this one left it, spent, and neither spends it nor adds a token. $1 the
 * token's hash, $2–$4 the next token's hash, creation and expiry (capped at the family's end), $5
 * now, which is also when the family (the session) was last used, $6–$8 the terms' client, DPoP key
 * and scopes, which mean here what rotationDecision (store/rotation.ts) says they mean.
 */
const ROTATE_REFRESH_TOKEN = prepared(`
  WITH found AS (
    SELECT ${FAMILY_COLUMNS}, t.hash, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.spent_at,
      ${PREFIXED_USER_COLUMNS}
    FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id LEFT JOIN users u ON u.id = f.user_id
    WHERE t.hash = $1
    FOR UPDATE OF t
  ), spent AS (
    UPDATE refresh_tokens t SET spent_at = $5 FROM found
    WHERE t.hash = found.hash AND found.spent_at IS NULL AND found.revoked_at IS NULL
      AND found.expires_at > $5 AND found.token_expires_at > $5
      AND found.client_id = $6 AND (found.jkt IS NULL OR found.jkt = $7) AND found.scopes @> $8::jsonb
      AND NOT found.u_disabled AND found.u_token_version = found.token_version
    RETURNING t.family_id
  ), touched AS (
    UPDATE refresh_families f SET last_used_at = $5 FROM spent WHERE f.id = spent.family_id
  ), added AS (
    INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, spent_at)
    SELECT $2, found.id, $3, least($4::bigint, found.expires_at), NULL FROM found JOIN spent ON spent.family_id = found.id
    RETURNING hash
  )
  SELECT found.*, (SELECT count(*) FROM added) AS rotated FROM found
`)

/** The users table's columns named with the prefix `u_`, null when a left join found no user. */
type PrefixedUserRow = { [Column in keyof UserRow as `u_${Column}`]: UserRow[Column] | null }

type RotationRow = RefreshTokenWithFamilyRow & PrefixedUserRow & { rotated: number }

function prefixedRowToUser (row: PrefixedUserRow): User | null {
  if (row.u_id === null) return null
  return rowToUser({
    id: row.u_id,
    username: row.u_username!,
    email: row.u_email,
    email_verified: row.u_email_verified!,
    full_name: row.u_full_name,
    scopes: row.u_scopes!,
    disabled: row.u_disabled!,
    password_hash: row.u_password_hash!,
    token_version: row.u_token_version!,
    created_at: row.u_created_at!
  })
}

// One statement for every combination of changes, so that the token_version raise, the login it
// keeps, and the record of the change that instances poll for, land in the same write as the change.
const UPDATE_USER = `
  WITH updated AS (
    UPDATE users SET
      email = CASE WHEN $2::boolean THEN $3::text ELSE email END,
      email_verified = CASE WHEN $11::boolean THEN $12::boolean WHEN $2::boolean AND email IS DISTINCT FROM $3::text THEN false ELSE email_verified END,
      full_name = CASE WHEN $4::boolean THEN $5::text ELSE full_name END,
      scopes = coalesce($6::jsonb, scopes),
      disabled = coalesce($7::boolean, disabled),
      password_hash = coalesce($8::text, password_hash),
      token_version = token_version + $9::integer
    WHERE id = $1
    RETURNING *
  ), recorded AS (
    ${RECORD_USER_CHANGE('updated', '$10')}
  ), kept AS (
    UPDATE refresh_families f SET token_version = updated.token_version FROM updated
    WHERE f.id = $13::text AND f.user_id = updated.id AND f.revoked_at IS NULL
  )
  SELECT * FROM updated
`

/** UPDATE_USER's values for `changes` to the user `id`. */
function updateUserValues (id: string, changes: UserChanges): unknown[] {
  return [
    id,
    changes.email !== undefined,
    changes.email ?? null,
    changes.fullName !== undefined,
    changes.fullName ?? null,
    changes.scopes === undefined ? null : JSON.stringify(changes.scopes),
    changes.disabled ?? null,
    changes.passwordHash ?? null,
    changes.revokeTokens === true ? 1 : 0,
    Date.now(),
    changes.emailVerified !== undefined,
    changes.emailVerified ?? null,
    changes.revokeTokens === true ? changes.keepRefreshFamily ?? null : null
  ]
}

const INSERT_REFRESH_TOKEN = `
  INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, spent_at) VALUES ($1, $2, $3, $4, NULL)
`

/** What the store asks of one checked-out connection: pg's PoolClient, or fromPool's wrapper of one. */
interface PgClient {
  query<Row extends pg.QueryResultRow = pg.QueryResultRow> (statement: string | PreparedStatement, values?: unknown[]): Promise<pg.QueryResult<Row>>
  release (error?: Error): void
  on (event: 'error', listener: (error: Error) => void): unknown
  removeListener (event: 'error', listener: (error: Error) => void): unknown
}

/** What the store asks of its pool: pg's Pool, or fromPool's wrapper of a host's. */
interface Connections {
  query<Row extends pg.QueryResultRow = pg.QueryResultRow> (statement: string | PreparedStatement, values?: unknown[]): Promise<pg.QueryResult<Row>>
  connect (): Promise<PgClient>
  end (): Promise<void>
}

/**
 * A store in one schema of a PostgreSQL database, which any number of instances may share. Each
 * instance keeps a pool of connections, every one of them with the schema as its search_path.
 */
export class PostgresStore implements Store {
  readonly #pool: Connections
  /** Whether every connection of the pool runs its statements READ COMMITTED, as the store's own pool does. */
  readonly #readCommitted: boolean
  #ended: Promise<void> | undefined

  private constructor (pool: Connections, readCommitted: boolean) {
    this.#pool = pool
    this.#readCommitted = readCommitted
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
      async <Row extends pg.QueryResultRow>(statement: string | PreparedStatement, values?: unknown[]): Promise<pg.QueryResult<Row>> => {
        if (closed) throw new Error('the store is closed')
        return await target.query<Row>({ ...(typeof statement === 'string' ? { text: statement } : statement), values, types })
      }
    const store = new PostgresStore({
      query: typed(pool),
      connect: async () => {
        if (closed) throw new Error('the store is closed')
        const client = await pool.connect()
        return {
          query: typed(client),
          release: error => client.release(error),
          on: (event, listener) => client.on(event, listener),
          removeListener: (event, listener) => client.removeListener(event, listener)
        }
      },
      end: async () => { closed = true }
    }, false)
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
      // READ COMMITTED whatever the server's default, so that a statement that waited for a row lock
      // reads what the lock's holder committed (rotateRefreshToken relies on it).
      onConnect: async client => { await client.query(`${setSearchPath}; SET default_transaction_isolation TO 'read committed'`) }
    })
    // The pool drops an idle connection that fails and opens another when needed; without a listener
    // that failure would be an uncaught 'error' event, which ends the process.
    pool.on('error', () => {})
    const store = new PostgresStore(pool, true)
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
      const { rows } = await this.#query<UserRow>(`
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
    const { rows } = await this.#query<UserRow>(SELECT_USER_BY_USERNAME, [username])
    return rows[0] === undefined ? null : rowToUser(rows[0])
  }

  async findUserById (id: string): Promise<User | null> {
    const { rows } = await this.#query<UserRow>(SELECT_USER_BY_ID, [id])
    return rows[0] === undefined ? null : rowToUser(rows[0])
  }

  async updateUser (id: string, changes: UserChanges): Promise<User | null> {
    const { rows } = await this.#query<UserRow>(UPDATE_USER, updateUserValues(id, changes))
    return rows[0] === undefined ? null : rowToUser(rows[0])
  }

  async removeUser (id: string): Promise<boolean> {
    // ON DELETE CASCADE takes the user's refresh families and their tokens.
    const { rows } = await this.#query(`
      WITH deleted AS (DELETE FROM users WHERE id = $1 RETURNING id), recorded AS (${RECORD_USER_CHANGE('deleted', '$2')})
      SELECT id FROM deleted
    `, [id, Date.now()])
    return rows.length > 0
  }

  async listUsers (): Promise<User[]> {
    // Code point order, as the other stores list them, whatever the database's default collation.
    const { rows } = await this.#query<UserRow>('SELECT * FROM users ORDER BY username COLLATE "C"')
    return rows.map(rowToUser)
  }

  async findUsersByEmail (email: string): Promise<User[]> {
    // lower() under COLLATE "C" changes ASCII letters only, as the other stores compare; the index users_email serves it.
    const { rows } = await this.#query<UserRow>('SELECT * FROM users WHERE lower(email COLLATE "C") = $1 ORDER BY username COLLATE "C"',
      [email.replace(/[A-Z]/g, letter => letter.toLowerCase())])
    return rows.map(rowToUser)
  }

  async countUsers (): Promise<number> {
    const { rows } = await this.#query<{ count: number }>('SELECT count(*) AS count FROM users')
    return rows[0]!.count
  }

  async listSigningKeys (): Promise<SigningKey[]> {
    const { rows } = await this.#query<SigningKeyRow>(SELECT_SIGNING_KEYS)
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
    await this.#query(`
      INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at) VALUES ($1, $2, $3, $4, $5)
    `, signingKeyValues(key))
  }

  async removeSigningKeys (kids: readonly string[]): Promise<void> {
    if (kids.length === 0) return
    await this.#query('DELETE FROM signing_keys WHERE kid = ANY ($1::text[])', [kids])
  }

  async updateSigningKey (kid: string, privateKey: string): Promise<boolean> {
    const { rowCount } = await this.#query('UPDATE signing_keys SET private_key = $2 WHERE kid = $1', [kid, privateKey])
    return rowCount === 1
  }

  async createRefreshFamily (family: NewRefreshFamily, first: NewRefreshToken): Promise<void> {
    await this.#transaction(async client => {
      await client.query(`
        INSERT INTO refresh_families (id, user_id, client_id, scopes, token_version, created_at, expires_at, revoked_at, jkt, last_used_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $6)
      `, [
        family.id,
        family.userId,
        family.clientId,
        JSON.stringify(family.scopes),
        family.tokenVersion,
        family.createdAt,
        family.expiresAt,
        family.jkt ?? null
      ])
      await client.query(INSERT_REFRESH_TOKEN, refreshTokenValues(first, family))
    })
  }

  async rotateRefreshToken (hash: string, next: NewRefreshToken, now: number, terms: RotationTerms): Promise<RotationResult> {
    const values = [hash, next.hash, next.createdAt, next.expiresAt, now, terms.clientId, terms.jkt, JSON.stringify(terms.scopes)]
    // One round trip where every statement runs READ COMMITTED (the store's own pool); on a host's
    // pool, whose default may be stricter, inside a transaction that says so.
    const { rows } = this.#readCommitted
      ? await this.#query<RotationRow>(ROTATE_REFRESH_TOKEN, values)
      : await this.#transaction(async client => await client.query<RotationRow>(ROTATE_REFRESH_TOKEN, values))
    const row = rows[0]
    if (row === undefined) return { outcome: 'invalid' }
    const family = rowToRefreshFamily(row)
    // The row as the statement found it, before its writes: what it decided in SQL, decided again here.
    const decision = rotationDecision(rowToRefreshToken(row), family, prefixedRowToUser(row), terms, now)
    if ((decision.outcome === 'rotate') !== (row.rotated > 0)) throw new Error('the rotation statement and rotationDecision disagree')
    return decision.outcome === 'rotate' ? { outcome: 'rotated', family, user: decision.user } : decision
  }

  async findRefreshToken (hash: string): Promise<{ token: RefreshToken, family: RefreshFamily } | null> {
    const { rows } = await this.#query<RefreshTokenWithFamilyRow>(SELECT_REFRESH_TOKEN_WITH_FAMILY, [hash])
    const row = rows[0]
    return row === undefined ? null : { token: rowToRefreshToken(row), family: rowToRefreshFamily(row) }
  }

  async revokeRefreshFamily (familyId: string, now: number): Promise<void> {
    // The first revocation's time stands: it is when the family stopped working.
    await this.#query('UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, familyId])
  }

  async listSessions (userId: string, now: number): Promise<Session[]> {
    // The family's own token_version against the user's: a family made before a change of password is over.
    const { rows } = await this.#query<RefreshFamilyRow>(`
      SELECT f.* FROM refresh_families f JOIN users u ON u.id = f.user_id
      WHERE f.user_id = $1 AND f.revoked_at IS NULL AND f.expires_at > $2 AND f.token_version = u.token_version
        AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id AND t.spent_at IS NULL AND t.expires_at > $2)
      ORDER BY f.last_used_at DESC, f.id COLLATE "C"
    `, [userId, now])
    return rows.map(rowToSession)
  }

  async createOneTimeCode (code: Omit<OneTimeCode, 'usedAt'>): Promise<void> {
    await this.#query(`
      INSERT INTO one_time_codes (hash, purpose, user_id, email, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)
    `, [code.hash, code.purpose, code.userId, code.email, code.createdAt, code.expiresAt])
  }

  async findOneTimeCode (hash: string): Promise<OneTimeCode | null> {
    const { rows } = await this.#query<OneTimeCode>(`
      SELECT hash, purpose, user_id AS "userId", email, created_at AS "createdAt", expires_at AS "expiresAt", used_at AS "usedAt"
      FROM one_time_codes WHERE hash = $1
    `, [hash])
    return rows[0] ?? null
  }

  async useOneTimeCode (hash: string, purpose: CodePurpose, now: number, changes: UserChanges): Promise<User | null> {
    return await this.#transaction(async client => {
      // The row lock makes a concurrent use of the same code wait here, and then read it used.
      const { rows: codes } = await client.query<{ user_id: string }>(`
        SELECT c.user_id FROM one_time_codes c JOIN users u ON u.id = c.user_id
        WHERE c.hash = $1 AND c.purpose = $2 AND c.used_at IS NULL AND c.expires_at > $3 AND u.email = c.email
        FOR UPDATE OF c
      `, [hash, purpose, now])
      const userId = codes[0]?.user_id
      if (userId === undefined) return null
      await client.query('UPDATE one_time_codes SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL', [now, userId, purpose])
      const { rows } = await client.query<UserRow>(UPDATE_USER, updateUserValues(userId, changes))
      return rows[0] === undefined ? null : rowToUser(rows[0])
    })
  }

  async revokeAccessToken (jti: string, expiresAt: number, now: number): Promise<void> {
    // A second revocation can only lengthen the first: the token it refuses may live that long.
    await this.#query(`
      INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
      ON CONFLICT (jti) DO UPDATE SET expires_at = greatest(revoked_tokens.expires_at, excluded.expires_at)
    `, [jti, expiresAt, now])
  }

  async revocationsSince (since: number): Promise<Revocation[]> {
    const { rows } = await this.#query<Revocation>(SELECT_REVOCATIONS_SINCE, [since])
    return rows
  }

  async prune (now: number): Promise<void> {
    await this.#transaction(async client => {
      await client.query('DELETE FROM revoked_tokens WHERE expires_at <= $1', [now])
      await client.query('DELETE FROM user_changes WHERE changed_at <= $1', [now])
      await client.query('DELETE FROM refresh_tokens WHERE expires_at <= $1', [now])
      // ON DELETE CASCADE takes the families' remaining tokens.
      await client.query('DELETE FROM refresh_families WHERE expires_at <= $1', [now])
      await client.query('DELETE FROM dpop_proofs WHERE expires_at <= $1', [now])
      await client.query('DELETE FROM one_time_codes WHERE expires_at <= $1', [now])
    })
  }

  async useDPoPProof (id: string, expiresAt: number, now: number): Promise<boolean> {
    // Inserts a new id, or takes over one whose time has passed and that prune has not deleted yet.
    // Of concurrent inserts of one id, the others wait for the first to commit and then update nothing.
    const { rowCount } = await this.#query(`
      INSERT INTO dpop_proofs (id, expires_at) VALUES ($1, $2)
      ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= $3
    `, [id, expiresAt, now])
    return rowCount === 1
  }

  async createClient (client: Client): Promise<void> {
    try {
      await this.#query('INSERT INTO clients (id, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4)', [
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
    const { rows } = await this.#query<ClientRow>(SELECT_CLIENT, [id])
    return rows[0] === undefined ? null : rowToClient(rows[0])
  }

  async setClientSecret (id: string, secretHash: string): Promise<boolean> {
    const { rowCount } = await this.#query('UPDATE clients SET secret_hash = $1 WHERE id = $2', [secretHash, id])
    return rowCount !== null && rowCount > 0
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
    const { rows } = await this.#query<ClientRow>('SELECT * FROM clients ORDER BY id COLLATE "C"')
    return rows.map(rowToClient)
  }

  async findTotpEnrollment (userId: string): Promise<TotpEnrollment | null> {
    const { rows } = await this.#query<TotpEnrollmentRow>('SELECT * FROM totp_enrollments WHERE user_id = $1', [userId])
    return rows[0] === undefined ? null : rowToTotpEnrollment(rows[0])
  }

  async startTotpEnrollment (userId: string, secret: string, now: number): Promise<boolean> {
    // Selected from users, so that an unknown user inserts nothing; an active enrollment is left as it is.
    const { rowCount } = await this.#query(`
      INSERT INTO totp_enrollments (user_id, secret, state, last_step, created_at)
      SELECT id, $2, 'pending', NULL, $3 FROM users WHERE id = $1
      ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = NULL, created_at = excluded.created_at
      WHERE totp_enrollments.state = 'pending'
    `, [userId, secret, now])
    return rowCount === 1
  }

  async activateTotpEnrollment (userId: string, secret: string, step: number | null, recoveryCodeHashes: readonly string[]): Promise<boolean> {
    // The codes are replaced in the same transaction, so that an enrollment is never active without them.
    return await this.#transaction(async client => {
      const { rowCount } = await client.query(`
        UPDATE totp_enrollments SET state = 'active', last_step = $3
        WHERE user_id = $1 AND state = 'pending' AND secret = $2
      `, [userId, secret, step])
      if (rowCount !== 1) return false
      await client.query('DELETE FROM totp_recovery_codes WHERE user_id = $1', [userId])
      await client.query('INSERT INTO totp_recovery_codes (user_id, hash) SELECT $1, unnest($2::text[])', [userId, recoveryCodeHashes])
      return true
    })
  }

  async acceptTotpStep (userId: string, step: number): Promise<boolean> {
    // The row lock makes a concurrent update of the same enrollment wait, then test the condition again
    // against what it committed: of two calls with one step, the second changes nothing. In a
    // transaction of #transaction's, READ COMMITTED whatever the server's default, under which the
    // second would fail with a serialization error instead.
    return await this.#transaction(async client => {
      const { rowCount } = await client.query(`
        UPDATE totp_enrollments SET last_step = $2
        WHERE user_id = $1 AND state = 'active' AND (last_step IS NULL OR last_step < $2)
      `, [userId, step])
      return rowCount === 1
    })
  }

  async spendRecoveryCode (userId: string, hash: string): Promise<boolean> {
    // As acceptTotpStep: a concurrent delete of the same row waits for this one, then finds nothing to delete.
    return await this.#transaction(async client => {
      const { rowCount } = await client.query('DELETE FROM totp_recovery_codes WHERE user_id = $1 AND hash = $2', [userId, hash])
      return rowCount === 1
    })
  }

  async removeTotpEnrollment (userId: string): Promise<boolean> {
    // ON DELETE CASCADE takes the recovery codes.
    const { rowCount } = await this.#query('DELETE FROM totp_enrollments WHERE user_id = $1', [userId])
    return rowCount === 1
  }

  async ping (): Promise<void> {
    await this.#query('SELECT 1')
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

  /** One statement on a connection of the pool. */
  async #query<Row extends pg.QueryResultRow = pg.QueryResultRow> (statement: string | PreparedStatement, values?: unknown[]): Promise<pg.QueryResult<Row>> {
    return await this.#withConnection(async ({ client }) => await client.query<Row>(statement, values))
  }

  /** Runs `work` on one connection between BEGIN and COMMIT, and rolls back if it throws. */
  async #transaction<T> (work: (client: PgClient) => Promise<T>): Promise<T> {
    return await this.#withConnection(async connection => {
      const { client } = connection
      // Named, whatever the server's default: after waiting for the advisory lock or a row lock, the
      // next statement must see what the lock's holder committed, which a snapshot from the
      // transaction's first statement (REPEATABLE READ, SERIALIZABLE) would not.
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED')
      try {
        const result = await work(client)
        await client.query('COMMIT')
        return result
      } catch (error) {
        // A connection whose ROLLBACK failed is in an unknown state: it is closed rather than reused.
        await client.query('ROLLBACK').catch((rollbackError: Error) => connection.fail(rollbackError))
        throw error
      }
    })
  }

  /**
   * Runs `work` on a connection checked out of the pool, and gives the connection back, or closes it
   * if it failed. A failure of the connection or of the server is thrown as StoreUnavailableError.
   */
  async #withConnection<T> (work: (connection: Connection) => Promise<T>): Promise<T> {
    let client: PgClient
    try {
      client = await this.#pool.connect()
    } catch (error) {
      // Refused, timed out, or the server refused the session (starting up, shutting down, too many clients).
      throw new StoreUnavailableError({ cause: error })
    }
    const connection = new Connection(client)
    try {
      return await work(connection)
    } catch (error) {
      throw connection.classify(error)
    } finally {
      connection.release()
    }
  }
}

/**
 * A connection checked out of the pool. The pool listens for a connection's 'error' event only while
 * the connection is idle; while it is checked out, an 'error' nobody listens for (the server ended the
 * session, the socket closed) would end the process. This listens instead, and remembers the failure,
 * so that the connection is closed when it is released, never handed out again.
 */
class Connection {
  #failure: Error | undefined
  readonly #onError = (error: Error): void => { this.fail(error) }

  constructor (readonly client: PgClient) {
    client.on('error', this.#onError)
  }

  fail (error: Error): void {
    this.#failure ??= error
  }

  /** What to throw for an error of a call on this connection. */
  classify (error: unknown): unknown {
    if (error instanceof pg.DatabaseError && isServerFailure(error.code)) this.fail(error)
    return this.#failure === undefined ? error : new StoreUnavailableError({ cause: error })
  }

  release (): void {
    // A failed connection keeps the listener: it may still emit 'error' while it closes.
    if (this.#failure === undefined) this.client.removeListener('error', this.#onError)
    this.client.release(this.#failure)
  }
}

/**
 * SQLSTATEs of a server that cannot serve rather than of a statement that is wrong
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html): class 08, connection exception;
 * 53, insufficient resources (disk full, out of memory, too many connections); 57P, operator
 * intervention (shutdown, restart, a terminated session); 58, system error (I/O).
 */
function isServerFailure (code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P') || code.startsWith('58'))
}

function signingKeyValues (key: SigningKey): [string, SigningAlgorithm, string, string, number] {
  return [key.kid, key.alg, key.privateKey, key.publicKey, key.createdAt]
}

function refreshTokenValues (token: NewRefreshToken, family: Pick<RefreshFamily, 'id' | 'expiresAt'>): [string, string, number, number] {
  return [token.hash, family.id, token.createdAt, Math.min(token.expiresAt, family.expiresAt)]
}
