import { randomUUID } from 'node:crypto'
import Database from 'better-sqlite3'
import { migrations } from './sqlite-migrations.js'
import { protectDatabaseFiles } from './sqlite-files.js'
import { rotationDecision } from './rotation.js'
import {
  rowToClient, rowToRefreshFamily, rowToRefreshToken, rowToSession, rowToSigningKey, rowToTotpEnrollment, rowToUser,
  type ClientRow, type RefreshFamilyRow, type RefreshTokenWithFamilyRow, type SigningKeyRow, type TotpEnrollmentRow, type UserRow
} from './rows.js'
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
  RotationResult,
  RotationTerms,
  Session,
  SigningAlgorithm,
  Revocation,
  SigningKey,
  Store,
  TotpEnrollment,
  User,
  UserChanges
} from './types.js'

// How long a statement waits for another connection's lock before it fails with SQLITE_BUSY.
const BUSY_TIMEOUT_MS = 5000

// The WAL is copied back into the database once it holds this many pages (400 KiB), instead of
// SQLite's 1000 (4 MiB), and a WAL that grew past WAL_SIZE_LIMIT all the same (a large prune, a
// reader holding a snapshot) is cut back to it when it restarts. What the WAL holds on to stays small
// and steady, so that space freed on a full volume is not taken back by the WAL alone.
const WAL_AUTOCHECKPOINT_PAGES = 100
const WAL_SIZE_LIMIT = 512 * 1024

/** A row as SQLite keeps it: scopes as JSON text and flags as 0 or 1. */
type Stored<Row> = { [Column in keyof Row]: Column extends 'scopes' ? string : Column extends 'disabled' | 'email_verified' ? number : Row[Column] }

/**
 * A store in one SQLite file, which several processes on one host may share. The methods return
 * promises although better-sqlite3 is synchronous, so that callers are written for every backend.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database
  readonly #statements: ReturnType<typeof prepareStatements>
  readonly #transactions: ReturnType<typeof prepareTransactions>

  /** Opens, creating it if needed, and migrates the database at `filename`, or an in-memory one for ':memory:'. */
  constructor (filename: string) {
    if (filename !== ':memory:') protectDatabaseFiles(filename)
    const db = new Database(filename)
    try {
      // Set first, so that the statements below wait for another process opening the same file.
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
      if (filename !== ':memory:') enableWal(db)
      // NORMAL may lose the last commits on power loss; a user told "created" must stay created.
      db.pragma('synchronous = FULL')
      db.pragma('foreign_keys = ON')
      // Deleted rows are overwritten with zeros, not just unlinked: a removed signing key leaves no trace in the pages.
      db.pragma('secure_delete = ON')
      migrate(db)
    } catch (err) {
      db.close()
      throw err
    }
    this.#db = db
    this.#statements = prepareStatements(db)
    this.#transactions = prepareTransactions(db, this.#statements)
  }

  async createUser (user: NewUser): Promise<User> {
    try {
      // all(), never get(), for a write with RETURNING: get() steps the statement once and ignores what
      // resetting it reports, so a commit that fails there (SQLITE_FULL) would be taken for a success.
      const [row] = this.#statements.insertUser.all({
        id: randomUUID(),
        username: user.username,
        email: user.email ?? null,
        fullName: user.fullName ?? null,
        scopes: JSON.stringify(user.scopes),
        passwordHash: user.passwordHash,
        createdAt: Date.now()
      })
      return userFromRow(row as Stored<UserRow>)
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
    return row === undefined ? null : userFromRow(row)
  }

  async findUserById (id: string): Promise<User | null> {
    const row = this.#statements.userById.get(id)
    return row === undefined ? null : userFromRow(row)
  }

  async updateUser (id: string, changes: UserChanges): Promise<User | null> {
    const row = this.#transactions.updateUser(...updateUserParams(id, changes))
    return row === undefined ? null : userFromRow(row)
  }

  async removeUser (id: string): Promise<boolean> {
    return this.#transactions.deleteUser(id, Date.now())
  }

  async listUsers (): Promise<User[]> {
    return this.#statements.listUsers.all().map(userFromRow)
  }

  async findUsersByEmail (email: string): Promise<User[]> {
    return this.#statements.usersByEmail.all(email.replace(/[A-Z]/g, letter => letter.toLowerCase())).map(userFromRow)
  }

  async countUsers (): Promise<number> {
    return this.#statements.countUsers.get() as number
  }

  async listSigningKeys (): Promise<SigningKey[]> {
    return this.#statements.listSigningKeys.all().map(rowToSigningKey)
  }

  async addFirstSigningKey (key: SigningKey): Promise<SigningKey[]> {
    // IMMEDIATE takes the write lock before the check, so that two processes starting at once cannot both see no key.
    return this.#transactions.insertFirstSigningKey.immediate(key).map(rowToSigningKey)
  }

  async addSigningKey (key: SigningKey): Promise<void> {
    this.#statements.insertSigningKey.run(signingKeyParams(key))
  }

  async removeSigningKeys (kids: readonly string[]): Promise<void> {
    if (kids.length === 0) return
    this.#statements.deleteSigningKeys.run(JSON.stringify(kids))
    emptyWal(this.#db)
  }

  async updateSigningKey (kid: string, privateKey: string): Promise<boolean> {
    const updated = this.#statements.updateSigningKey.run(privateKey, kid).changes > 0
    emptyWal(this.#db)
    return updated
  }

  async createRefreshFamily (family: NewRefreshFamily, first: NewRefreshToken): Promise<void> {
    this.#transactions.insertRefreshFamily(family, first)
  }

  async rotateRefreshToken (hash: string, next: NewRefreshToken, now: number, terms: RotationTerms): Promise<RotationResult> {
    // IMMEDIATE takes the write lock before the lookup, so that of two processes rotating one token the
    // second waits and then sees it spent; a deferred one would fail with SQLITE_BUSY, without waiting.
    return this.#transactions.rotateRefreshToken.immediate(hash, next, now, terms)
  }

  async findRefreshToken (hash: string): Promise<{ token: RefreshToken, family: RefreshFamily } | null> {
    const row = this.#statements.refreshTokenWithFamily.get(hash)
    return row === undefined ? null : { token: rowToRefreshToken(row), family: familyFromRow(row) }
  }

  async revokeRefreshFamily (familyId: string, now: number): Promise<void> {
    this.#statements.revokeRefreshFamily.run(now, familyId)
  }

  async listSessions (userId: string, now: number): Promise<Session[]> {
    return this.#statements.sessions.all({ userId, now }).map(row => rowToSession({ ...row, scopes: JSON.parse(row.scopes) }))
  }

  async createOneTimeCode (code: Omit<OneTimeCode, 'usedAt'>): Promise<void> {
    this.#statements.insertCode.run(code)
  }

  async findOneTimeCode (hash: string): Promise<OneTimeCode | null> {
    return this.#statements.codeByHash.get(hash) ?? null
  }

  async useOneTimeCode (hash: string, purpose: CodePurpose, now: number, changes: UserChanges): Promise<User | null> {
    // IMMEDIATE takes the write lock before the checks: of two processes using one code, the second sees it used.
    const row = this.#transactions.useCode.immediate(hash, purpose, now, ...updateUserParams('', changes))
    return row === undefined ? null : userFromRow(row)
  }

  async revokeAccessToken (jti: string, expiresAt: number, now: number): Promise<void> {
    this.#statements.revokeAccessToken.run(jti, expiresAt, now)
  }

  async revocationsSince (since: number): Promise<Revocation[]> {
    return this.#statements.revocationsSince.all({ since })
  }

  async prune (now: number): Promise<void> {
    this.#transactions.prune.immediate(now)
  }

  async useDPoPProof (id: string, expiresAt: number, now: number): Promise<boolean> {
    return this.#statements.useDPoPProof.run({ id, expiresAt, now }).changes === 1
  }

  async createClient (client: Client): Promise<void> {
    try {
      this.#statements.insertClient.run({
        id: client.id,
        secretHash: client.secretHash,
        scopes: JSON.stringify(client.scopes),
        createdAt: client.createdAt
      })
    } catch (err) {
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new DuplicateClientError(client.id)
      }
      throw err
    }
  }

  async findClient (id: string): Promise<Client | null> {
    const row = this.#statements.clientById.get(id)
    return row === undefined ? null : clientFromRow(row)
  }

  async setClientSecret (id: string, secretHash: string): Promise<boolean> {
    return this.#statements.setClientSecret.run(secretHash, id).changes > 0
  }

  async removeClient (id: string): Promise<boolean> {
    return this.#transactions.deleteClient.immediate(id, Date.now())
  }

  async listClients (): Promise<Client[]> {
    return this.#statements.listClients.all().map(clientFromRow)
  }

  async findTotpEnrollment (userId: string): Promise<TotpEnrollment | null> {
    const row = this.#statements.totpEnrollment.get(userId)
    return row === undefined ? null : rowToTotpEnrollment(row)
  }

  async startTotpEnrollment (userId: string, secret: string, now: number): Promise<boolean> {
    return this.#statements.startTotpEnrollment.run({ userId, secret, now }).changes > 0
  }

  async activateTotpEnrollment (userId: string, secret: string, step: number | null, recoveryCodeHashes: readonly string[]): Promise<boolean> {
    return this.#transactions.activateTotpEnrollment.immediate(userId, secret, step, recoveryCodeHashes)
  }

  async acceptTotpStep (userId: string, step: number): Promise<boolean> {
    // One statement: SQLite runs one writer at a time, so two processes cannot both find the step later than the last.
    return this.#statements.acceptTotpStep.run({ userId, step }).changes > 0
  }

  async spendRecoveryCode (userId: string, hash: string): Promise<boolean> {
    return this.#statements.spendRecoveryCode.run(userId, hash).changes > 0
  }

  async removeTotpEnrollment (userId: string): Promise<boolean> {
    // ON DELETE CASCADE takes the recovery codes.
    return this.#statements.removeTotpEnrollment.run(userId).changes > 0
  }

  /**
   * A passive checkpoint: it waits for no one, and fails while the WAL cannot be copied back into the
   * database, as on a full disk, where the WAL can no longer restart and every write soon fails too.
   */
  async ping (): Promise<void> {
    this.#statements.ping.get()
  }

  async close (): Promise<void> {
    this.#db.close()
  }
}

/**
 * Switches a file to WAL, so that readers do not wait for the writer, with the WAL kept small. SQLite
 * answers SQLITE_BUSY without waiting, or leaves the mode unchanged, while another process switches the
 * same new file, so this retries until the busy timeout.
 */
function enableWal (db: Database.Database): void {
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`)
  db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`)
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
 * Copies the write-ahead log into the database and truncates it to nothing. secure_delete zeroes a
 * removed row in the page's new version, but the log still holds the page's older versions, with
 * the row, until a checkpoint restarts it, and a restarted log is overwritten, not shortened: only
 * a TRUNCATE checkpoint makes them leave the files. It waits (busy_timeout) for the readers of older
 * versions to finish; one still reading after that makes it throw, so that the caller learns the old
 * values are still in the log. On a database without a log (':memory:') it does nothing.
 */
function emptyWal (db: Database.Database): void {
  const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>
  if (result?.busy !== 0) {
    throw new Error('the change is committed, but another connection kept reading for the whole busy timeout, so the write-ahead log (-wal file) still holds the previous values until a later checkpoint')
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
    }, Stored<UserRow>>(`
      INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
      VALUES (@id, @username, @email, @fullName, @scopes, 0, @passwordHash, 0, @createdAt)
      RETURNING *
    `),
    userByUsername: db.prepare<[string], Stored<UserRow>>('SELECT * FROM users WHERE username = ?'),
    userById: db.prepare<[string], Stored<UserRow>>('SELECT * FROM users WHERE id = ?'),
    // One statement for every combination of changes, so that it is prepared once and the
    // token_version raise lands in the same write as the change that calls for it.
    updateUser: db.prepare<{
      id: string
      setEmail: number
      email: string | null
      setEmailVerified: number
      emailVerified: number
      setFullName: number
      fullName: string | null
      scopes: string | null
      disabled: number | null
      passwordHash: string | null
      revokeTokens: number
    }, Stored<UserRow>>(`
      UPDATE users SET
        email = CASE WHEN @setEmail THEN @email ELSE email END,
        email_verified = CASE WHEN @setEmailVerified THEN @emailVerified WHEN @setEmail AND email IS NOT @email THEN 0 ELSE email_verified END,
        full_name = CASE WHEN @setFullName THEN @fullName ELSE full_name END,
        scopes = coalesce(@scopes, scopes),
        disabled = coalesce(@disabled, disabled),
        password_hash = coalesce(@passwordHash, password_hash),
        token_version = token_version + @revokeTokens
      WHERE id = @id
      RETURNING *
    `),
    deleteUser: db.prepare<[string]>('DELETE FROM users WHERE id = ?'),
    keepRefreshFamily: db.prepare<[number, string, string]>(
      'UPDATE refresh_families SET token_version = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL'
    ),
    recordUserChange: db.prepare<[string, number]>(`
      INSERT INTO user_changes (user_id, changed_at) VALUES (?, ?)
      ON CONFLICT (user_id) DO UPDATE SET changed_at = excluded.changed_at
    `),
    // lower() changes ASCII letters only, as MemoryStore's comparison does; the index users_email serves it.
    usersByEmail: db.prepare<[string], Stored<UserRow>>('SELECT * FROM users WHERE lower(email) = ? ORDER BY username'),
    insertCode: db.prepare<Omit<OneTimeCode, 'usedAt'>>(`
      INSERT INTO one_time_codes (hash, purpose, user_id, email, created_at, expires_at, used_at)
      VALUES (@hash, @purpose, @userId, @email, @createdAt, @expiresAt, NULL)
    `),
    codeByHash: db.prepare<[string], OneTimeCode>(`
      SELECT hash, purpose, user_id AS userId, email, created_at AS createdAt, expires_at AS expiresAt, used_at AS usedAt
      FROM one_time_codes WHERE hash = ?
    `),
    liveCode: db.prepare<{ hash: string, purpose: string, now: number }, { userId: string }>(`
      SELECT c.user_id AS userId FROM one_time_codes c JOIN users u ON u.id = c.user_id
      WHERE c.hash = @hash AND c.purpose = @purpose AND c.used_at IS NULL AND c.expires_at > @now AND u.email IS c.email
    `),
    useCodes: db.prepare<{ userId: string, purpose: string, now: number }>(
      'UPDATE one_time_codes SET used_at = @now WHERE user_id = @userId AND purpose = @purpose AND used_at IS NULL'
    ),
    pruneCodes: db.prepare<[number]>('DELETE FROM one_time_codes WHERE expires_at <= ?'),
    // BINARY collation: code point order, which MemoryStore reproduces.
    listUsers: db.prepare<[], Stored<UserRow>>('SELECT * FROM users ORDER BY username'),
    countUsers: db.prepare<[], number>('SELECT count(*) FROM users').pluck(),
    // rowid follows insertion, so keys created in the same millisecond still list newest first.
    listSigningKeys: db.prepare<[], SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at DESC, rowid DESC'),
    insertSigningKeyIfNone: db.prepare<SigningKeyParams>(`
      INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at)
      SELECT @kid, @alg, @privateKey, @publicKey, @createdAt
      WHERE NOT EXISTS (SELECT 1 FROM signing_keys)
    `),
    insertSigningKey: db.prepare<SigningKeyParams>(`
      INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at)
      VALUES (@kid, @alg, @privateKey, @publicKey, @createdAt)
    `),
    // The kids come as one JSON array, so that one prepared statement removes any number of them.
    deleteSigningKeys: db.prepare<[string]>('DELETE FROM signing_keys WHERE kid IN (SELECT value FROM json_each(?))'),
    updateSigningKey: db.prepare<[string, string]>('UPDATE signing_keys SET private_key = ? WHERE kid = ?'),
    insertRefreshFamily: db.prepare<{
      id: string
      userId: string
      clientId: string
      scopes: string
      tokenVersion: number
      createdAt: number
      expiresAt: number
      jkt: string | null
    }>(`
      INSERT INTO refresh_families (id, user_id, client_id, scopes, token_version, created_at, expires_at, revoked_at, jkt, last_used_at)
      VALUES (@id, @userId, @clientId, @scopes, @tokenVersion, @createdAt, @expiresAt, NULL, @jkt, @createdAt)
    `),
    insertRefreshToken: db.prepare<{
      hash: string
      familyId: string
      createdAt: number
      expiresAt: number
    }>(`
      INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, spent_at)
      VALUES (@hash, @familyId, @createdAt, @expiresAt, NULL)
    `),
    refreshTokenWithFamily: db.prepare<[string], Stored<RefreshTokenWithFamilyRow>>(`
      SELECT f.*, t.hash, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.spent_at
      FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
      WHERE t.hash = ?
    `),
    spendRefreshToken: db.prepare<[number, string]>('UPDATE refresh_tokens SET spent_at = ? WHERE hash = ? AND spent_at IS NULL'),
    useRefreshFamily: db.prepare<[number, string]>('UPDATE refresh_families SET last_used_at = ? WHERE id = ?'),
    // The family's own token_version against the user's: a family made before a change of password is over.
    sessions: db.prepare<{ userId: string, now: number }, Stored<RefreshFamilyRow>>(`
      SELECT f.* FROM refresh_families f JOIN users u ON u.id = f.user_id
      WHERE f.user_id = @userId AND f.revoked_at IS NULL AND f.expires_at > @now AND f.token_version = u.token_version
        AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id AND t.spent_at IS NULL AND t.expires_at > @now)
      ORDER BY f.last_used_at DESC, f.id
    `),
    // The first revocation's time stands: it is when the family stopped working.
    revokeRefreshFamily: db.prepare<[number, string]>('UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    revokeClientRefreshFamilies: db.prepare<[number, string]>(
      'UPDATE refresh_families SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL'
    ),
    // A second revocation can only lengthen the first: the token it refuses may live that long.
    revokeAccessToken: db.prepare<[string, number, number]>(`
      INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)
      ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)
    `),
    revocationsSince: db.prepare<{ since: number }, Revocation>(`
      SELECT 'access_token' AS kind, jti AS id, revoked_at AS at, expires_at AS expiresAt FROM revoked_tokens WHERE revoked_at >= @since
      UNION ALL SELECT 'refresh_family', id, revoked_at, NULL FROM refresh_families WHERE revoked_at >= @since
      UNION ALL SELECT 'user', user_id, changed_at, NULL FROM user_changes WHERE changed_at >= @since
    `),
    pruneRevokedTokens: db.prepare<[number]>('DELETE FROM revoked_tokens WHERE expires_at <= ?'),
    pruneUserChanges: db.prepare<[number]>('DELETE FROM user_changes WHERE changed_at <= ?'),
    pruneRefreshTokens: db.prepare<[number]>('DELETE FROM refresh_tokens WHERE expires_at <= ?'),
    // ON DELETE CASCADE takes the families' remaining tokens.
    pruneRefreshFamilies: db.prepare<[number]>('DELETE FROM refresh_families WHERE expires_at <= ?'),
    pruneDPoPProofs: db.prepare<[number]>('DELETE FROM dpop_proofs WHERE expires_at <= ?'),
    // Inserts a new id, or takes over one whose time has passed and that prune has not deleted yet;
    // changes nothing (0 changes) for an id still remembered.
    useDPoPProof: db.prepare<{ id: string, expiresAt: number, now: number }>(`
      INSERT INTO dpop_proofs (id, expires_at) VALUES (@id, @expiresAt)
      ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= @now
    `),
    insertClient: db.prepare<{
      id: string
      secretHash: string | null
      scopes: string
      createdAt: number
    }>('INSERT INTO clients (id, secret_hash, scopes, created_at) VALUES (@id, @secretHash, @scopes, @createdAt)'),
    clientById: db.prepare<[string], Stored<ClientRow>>('SELECT * FROM clients WHERE id = ?'),
    setClientSecret: db.prepare<[string, string]>('UPDATE clients SET secret_hash = ? WHERE id = ?'),
    deleteClient: db.prepare<[string]>('DELETE FROM clients WHERE id = ?'),
    listClients: db.prepare<[], Stored<ClientRow>>('SELECT * FROM clients ORDER BY id'),
    totpEnrollment: db.prepare<[string], TotpEnrollmentRow>('SELECT * FROM totp_enrollments WHERE user_id = ?'),
    // Selected from users, so that an unknown user inserts nothing; an active enrollment is left as it is.
    startTotpEnrollment: db.prepare<{ userId: string, secret: string, now: number }>(`
      INSERT INTO totp_enrollments (user_id, secret, state, last_step, created_at)
      SELECT id, @secret, 'pending', NULL, @now FROM users WHERE id = @userId
      ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = NULL, created_at = excluded.created_at
      WHERE totp_enrollments.state = 'pending'
    `),
    activateTotpEnrollment: db.prepare<{ userId: string, secret: string, step: number | null }>(`
      UPDATE totp_enrollments SET state = 'active', last_step = @step
      WHERE user_id = @userId AND state = 'pending' AND secret = @secret
    `),
    deleteRecoveryCodes: db.prepare<[string]>('DELETE FROM totp_recovery_codes WHERE user_id = ?'),
    insertRecoveryCode: db.prepare<[string, string]>('INSERT INTO totp_recovery_codes (user_id, hash) VALUES (?, ?)'),
    acceptTotpStep: db.prepare<{ userId: string, step: number }>(`
      UPDATE totp_enrollments SET last_step = @step
      WHERE user_id = @userId AND state = 'active' AND (last_step IS NULL OR last_step < @step)
    `),
    spendRecoveryCode: db.prepare<[string, string]>('DELETE FROM totp_recovery_codes WHERE user_id = ? AND hash = ?'),
    removeTotpEnrollment: db.prepare<[string]>('DELETE FROM totp_enrollments WHERE user_id = ?'),
    ping: db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
  }
}

function prepareTransactions (db: Database.Database, statements: ReturnType<typeof prepareStatements>) {
  // The change is recorded in the same write, so that no instance can miss it.
  function updateUser (params: UpdateUserParams, keepRefreshFamily: string | null): Stored<UserRow> | undefined {
    // all(), not get(): get() stops after the first row and never sees a failure at the statement's end.
    const [row] = statements.updateUser.all(params)
    if (row === undefined) return row
    if (keepRefreshFamily !== null) statements.keepRefreshFamily.run(row.token_version, keepRefreshFamily, row.id)
    statements.recordUserChange.run(row.id, Date.now())
    return row
  }

  return {
    updateUser: db.transaction((params: UpdateUserParams, keepRefreshFamily: string | null) => updateUser(params, keepRefreshFamily)),
    useCode: db.transaction((hash: string, purpose: CodePurpose, now: number, params: UpdateUserParams, keepRefreshFamily: string | null) => {
      const code = statements.liveCode.get({ hash, purpose, now })
      if (code === undefined) return undefined
      statements.useCodes.run({ userId: code.userId, purpose, now })
      return updateUser({ ...params, id: code.userId }, keepRefreshFamily)
    }),
    deleteUser: db.transaction((id: string, now: number) => {
      if (statements.deleteUser.run(id).changes === 0) return false
      statements.recordUserChange.run(id, now)
      return true
    }),
    insertFirstSigningKey: db.transaction((key: SigningKey) => {
      statements.insertSigningKeyIfNone.run(signingKeyParams(key))
      return statements.listSigningKeys.all()
    }),
    insertRefreshFamily: db.transaction((family: NewRefreshFamily, first: NewRefreshToken) => {
      statements.insertRefreshFamily.run({
        id: family.id,
        userId: family.userId,
        clientId: family.clientId,
        scopes: JSON.stringify(family.scopes),
        tokenVersion: family.tokenVersion,
        createdAt: family.createdAt,
        expiresAt: family.expiresAt,
        jkt: family.jkt ?? null
      })
      statements.insertRefreshToken.run(refreshTokenParams(first, family))
    }),
    rotateRefreshToken: db.transaction((hash: string, next: NewRefreshToken, now: number, terms: RotationTerms): RotationResult => {
      const row = statements.refreshTokenWithFamily.get(hash)
      if (row === undefined) return { outcome: 'invalid' }
      const family = familyFromRow(row)
      const userRow = statements.userById.get(family.userId)
      const decision = rotationDecision(rowToRefreshToken(row), family, userRow === undefined ? null : userFromRow(userRow), terms, now)
      if (decision.outcome !== 'rotate') return decision
      // The write lock is held since the lookup, so the token is still live; throwing rolls back all of it.
      if (statements.spendRefreshToken.run(now, hash).changes !== 1) throw new Error('the refresh token was spent during its rotation')
      statements.useRefreshFamily.run(now, family.id)
      statements.insertRefreshToken.run(refreshTokenParams(next, family))
      return { outcome: 'rotated', family, user: decision.user }
    }),
    prune: db.transaction((now: number) => {
      statements.pruneRevokedTokens.run(now)
      statements.pruneUserChanges.run(now)
      statements.pruneRefreshTokens.run(now)
      statements.pruneRefreshFamilies.run(now)
      statements.pruneCodes.run(now)
      statements.pruneDPoPProofs.run(now)
    }),
    // The codes are replaced in the same write, so that an enrollment is never active without them.
    activateTotpEnrollment: db.transaction((userId: string, secret: string, step: number | null, recoveryCodeHashes: readonly string[]) => {
      if (statements.activateTotpEnrollment.run({ userId, secret, step }).changes === 0) return false
      statements.deleteRecoveryCodes.run(userId)
      for (const hash of recoveryCodeHashes) statements.insertRecoveryCode.run(userId, hash)
      return true
    }),
    // The families are revoked in the same write, so that no refresh slips in between.
    deleteClient: db.transaction((id: string, now: number) => {
      if (statements.deleteClient.run(id).changes === 0) return false
      statements.revokeClientRefreshFamilies.run(now, id)
      return true
    })
  }
}

type UpdateUserParams = Parameters<ReturnType<typeof prepareStatements>['updateUser']['all']>[0]

/** updateUser's parameters for `changes`, and the family it keeps. */
function updateUserParams (id: string, changes: UserChanges): [UpdateUserParams, string | null] {
  return [{
    id,
    setEmail: changes.email === undefined ? 0 : 1,
    email: changes.email ?? null,
    setEmailVerified: changes.emailVerified === undefined ? 0 : 1,
    emailVerified: changes.emailVerified === true ? 1 : 0,
    setFullName: changes.fullName === undefined ? 0 : 1,
    fullName: changes.fullName ?? null,
    scopes: changes.scopes === undefined ? null : JSON.stringify(changes.scopes),
    disabled: changes.disabled === undefined ? null : Number(changes.disabled),
    passwordHash: changes.passwordHash ?? null,
    revokeTokens: changes.revokeTokens === true ? 1 : 0
  }, changes.revokeTokens === true ? changes.keepRefreshFamily ?? null : null]
}

interface SigningKeyParams {
  kid: string
  alg: SigningAlgorithm
  privateKey: string
  publicKey: string
  createdAt: number
}

function signingKeyParams (key: SigningKey): SigningKeyParams {
  return { kid: key.kid, alg: key.alg, privateKey: key.privateKey, publicKey: key.publicKey, createdAt: key.createdAt }
}

function refreshTokenParams (token: NewRefreshToken, family: Pick<RefreshFamily, 'id' | 'expiresAt'>) {
  return {
    hash: token.hash,
    familyId: family.id,
    createdAt: token.createdAt,
    expiresAt: Math.min(token.expiresAt, family.expiresAt)
  }
}

function userFromRow (row: Stored<UserRow>): User {
  return rowToUser({ ...row, scopes: JSON.parse(row.scopes), disabled: row.disabled === 1, email_verified: row.email_verified === 1 })
}

function familyFromRow (row: Stored<RefreshFamilyRow>): RefreshFamily {
  return rowToRefreshFamily({ ...row, scopes: JSON.parse(row.scopes) })
}

function clientFromRow (row: Stored<ClientRow>): Client {
  return rowToClient({ ...row, scopes: JSON.parse(row.scopes) })
}
