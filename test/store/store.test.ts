import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'
import t, { type Test } from 'tap'
import { DuplicateUsernameError, MemoryStore, SqliteWorkerStore, openStore } from '../../store/index.js'
import { PostgresStore } from '../../store/postgres.js'
import { SqliteStore } from '../../store/sqlite.js'
import type { RotationResult, SigningKey, Store } from '../../store/index.js'
import { migrations as postgresMigrations } from '../../store/postgres-migrations.js'
import { newClient, newFamily, newToken, newUser, signingKey } from '../../testing/fixtures.js'
import { storeContract } from '../../testing/store-contract.js'
import { migrations, type Migration } from '../../store/sqlite-migrations.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'store-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

// Every store and backend, with child processes racing on shared databases: on a loaded 2-core
// machine this file alone has taken over two minutes, more than tap's default for a file.
t.setTimeout(6 * 60_000)

let files = 0
// A directory that does not exist yet, so that every SQLite test also proves the store creates it.
function newFile (): string {
  return path.join(tmp, `db-${++files}`, 'auth.db')
}

// The PostgreSQL tests run only where a server is at hand, each in schemas of its own so that runs do not collide.
const postgresUrl = process.env.TEST_POSTGRES_URL ?? ''
const skipPostgres = postgresUrl === '' ? 'TEST_POSTGRES_URL is not set: PostgreSQL store tests skipped' : false
// Creates and drops the tests' schemas; it connects only when a PostgreSQL test runs.
const admin = new pg.Pool({ connectionString: postgresUrl })
t.teardown(() => admin.end())

interface Teardown {
  teardown (fn: () => unknown): void
}

/** A schema no store has used yet, dropped with everything in it at teardown, after the stores that `t` closes. */
function newSchema (t: Teardown): string {
  const schema = `t_${randomBytes(8).toString('hex')}`
  t.teardown(() => admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`))
  return schema
}

/** Adds `query` to whatever parameters `url` has already. */
function withQuery (url: string, query: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${query}`
}

const storeModule = pathToFileURL(fileURLToPath(new URL('../../store/index.ts', import.meta.url))).href
const postgresModule = pathToFileURL(fileURLToPath(new URL('../../store/postgres.ts', import.meta.url))).href
const sqliteModule = pathToFileURL(fileURLToPath(new URL('../../store/sqlite.ts', import.meta.url))).href

/**
 * Starts one process per name that loads the stores, writes 'ready', then runs `body` with
 * `SqliteStore`, `SqliteWorkerStore`, `PostgresStore`, its `name` and `lines`, an async iterator over the lines of its standard input.
 */
function startWorkers (t: Teardown, names: string[], body: string) {
  const script = `
    import { createInterface } from 'node:readline'
    const { SqliteWorkerStore } = await import(${JSON.stringify(storeModule)})
    const { PostgresStore } = await import(${JSON.stringify(postgresModule)})
    const { SqliteStore } = await import(${JSON.stringify(sqliteModule)})
    const name = process.env.WORKER_NAME
    const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
    process.stdout.write('ready\\n')
    ${body}
  `
  const workers = names.map(name => {
    const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '--eval', script], {
      env: { ...process.env, WORKER_NAME: name }
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const exited = new Promise<number | null>(resolve => child.on('exit', resolve))
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    async function nextLine (): Promise<string> {
      const line = await lines.next()
      if (line.done === true) throw new Error(`process ${name} exited with ${await exited}: ${stderr}`)
      return line.value
    }
    return { child, exited, nextLine }
  })
  t.teardown(() => { for (const { child } of workers) child.kill() })
  return workers
}

interface Implementation {
  name: string
  /** Why the implementation's tests are skipped, if they are. */
  skip?: string | false
  /** Opens a new, empty store; what it leaves behind goes at `t`'s teardown. */
  open: (t: Teardown) => Promise<Store>
}

const implementations: Implementation[] = [
  { name: 'MemoryStore', open: async () => new MemoryStore() },
  { name: 'SqliteStore', open: async () => new SqliteStore(newFile()) },
  {
    // Opening a file that is migrated already must neither fail nor apply anything again.
    name: 'SqliteStore, reopened',
    open: async () => {
      const file = newFile()
      await new SqliteStore(file).close()
      return new SqliteStore(file)
    }
  },
  { name: 'SqliteWorkerStore', open: async () => await SqliteWorkerStore.open(newFile()) },
  {
    name: 'SqliteWorkerStore, reopened',
    open: async () => {
      const file = newFile()
      await (await SqliteWorkerStore.open(file)).close()
      return await SqliteWorkerStore.open(file)
    }
  },
  { name: 'PostgresStore', skip: skipPostgres, open: async t => await PostgresStore.open(postgresUrl, { schema: newSchema(t) }) },
  {
    // As for SQLite: a schema that is migrated already.
    name: 'PostgresStore, reopened',
    skip: skipPostgres,
    open: async t => {
      const schema = newSchema(t)
      await (await PostgresStore.open(postgresUrl, { schema })).close()
      return await PostgresStore.open(postgresUrl, { schema })
    }
  }
]

for (const implementation of implementations) {
  t.test(implementation.name, { skip: implementation.skip ?? false }, async t => {
    storeContract(t, implementation.open)
  })
}

interface AppliedMigration {
  version: number
  name: string
  applied_at: number
}

/**
 * Opens a database that migration 1 made, holding user alice, and checks that the store applies the
 * later migrations once, keeps alice, and writes to what they added.
 */
async function checkUpgradeFromMigration1 (t: Test, backend: {
  open: () => Promise<Store>
  readMigrations: () => Promise<AppliedMigration[]>
  migrations: ReadonlyArray<Migration>
}): Promise<void> {
  const store = await backend.open()
  t.teardown(() => store.close())
  const applied = await backend.readMigrations()
  t.strictSame(applied.map(({ version }) => version), backend.migrations.map(({ version }) => version))
  t.equal(applied[0]?.applied_at, 1000, 'migration 1 was not applied again')
  const alice = await store.findUserByUsername('alice')
  t.equal(alice?.id, '00000000-0000-4000-8000-000000000001')

  await store.createRefreshFamily(newFamily(alice?.id ?? '', 'f1'), newToken('t1', 1000, 5000))
  await store.createClient(newClient('web'))
  await store.revokeAccessToken('j1', 5000)
  t.equal((await store.findRefreshToken('t1'))?.family.userId, alice?.id)
  await (await backend.open()).close()
  t.strictSame(await backend.readMigrations(), applied, 'reopening applied nothing again')
}

/** A backend that several stores, in one process or in several, share through one database. */
interface SharedBackend {
  /** Names a database no store has opened yet (a file, a schema), removed at `t`'s teardown. */
  newLocation: (t: Teardown) => string
  open: (location: string) => Promise<Store>
  /** The expression with which a process of startWorkers opens the store at `location`. */
  openInWorker: string
  readMigrations: (location: string) => Promise<AppliedMigration[]>
  migrations: ReadonlyArray<Migration>
}

/** The tests of sharing: what one store wrote, another reads, and racing stores agree. */
function sharedBackendTests (t: Test, backend: SharedBackend): void {
  async function open (t: Teardown, location: string): Promise<Store> {
    const store = await backend.open(location)
    t.teardown(() => store.close())
    return store
  }

  t.test('numbers its migrations 1, 2, 3… in order', async t => {
    t.strictSame(backend.migrations.map(migration => migration.version), backend.migrations.map((_, index) => index + 1))
  })

  t.test('keeps everything across close and reopen', async t => {
    const location = backend.newLocation(t)
    const store = await backend.open(location)
    const alice = await store.createUser(newUser('alice', { email: 'alice@example.com', fullName: 'Alice', scopes: ['read', 'write'] }))
    const updated = await store.updateUser(alice.id, { disabled: true, revokeTokens: true })
    const bob = await store.createUser(newUser('bob'))
    await store.addFirstSigningKey(signingKey('k1', 1000))
    await store.addSigningKey(signingKey('k2', 2000))
    const keys = await store.listSigningKeys()
    await store.createClient(newClient('web', { scopes: ['read', 'write'] }))
    await store.createClient(newClient('cli', { secretHash: null, scopes: [] }))
    const clients = await store.listClients()
    await store.createRefreshFamily(newFamily(alice.id, 'f1', { scopes: ['read', 'write'], tokenVersion: 1 }), newToken('t1', 1000, 5000))
    await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000)
    await store.createRefreshFamily(newFamily(bob.id, 'f2', { clientId: 'cli' }), newToken('u1', 1000, 5000))
    await store.revokeRefreshFamily('f2', 3000)
    const hashes = ['t1', 't2', 'u1']
    const tokens = await Promise.all(hashes.map(hash => store.findRefreshToken(hash)))
    await store.revokeAccessToken('j1', 5000)
    await store.close()

    const reopened = await open(t, location)
    t.strictSame(await reopened.listUsers(), [updated, bob])
    t.strictSame(await reopened.findUserByUsername('alice'), updated)
    t.strictSame(await reopened.listSigningKeys(), keys)
    t.equal(await reopened.countUsers(), 2)
    t.strictSame(await reopened.listClients(), clients)
    t.strictSame(await Promise.all(hashes.map(hash => reopened.findRefreshToken(hash))), tokens)
    t.equal(tokens[0]?.token.spentAt, 2000, 'the spent token was read back spent')
    t.equal(await reopened.isAccessTokenRevoked('j1'), true)
    t.strictSame(await reopened.rotateRefreshToken('t1', newToken('t3', 3000, 7000), 3000),
      { outcome: 'spent', family: tokens[0]?.family, spentAt: 2000 }, 'reuse is recognised after a restart')
  })

  t.test('two stores opened one after the other on a new database share one schema and one key', async t => {
    const location = backend.newLocation(t)
    const one = await open(t, location)
    const two = await open(t, location)

    t.equal((await backend.readMigrations(location)).length, backend.migrations.length)
    const [fromOne, fromTwo] = await Promise.all([
      one.addFirstSigningKey(signingKey('one', 1000)),
      two.addFirstSigningKey(signingKey('two', 1000))
    ])
    t.equal(fromOne.length, 1, 'one key')
    t.ok(['one', 'two'].includes(fromOne[0]?.kid ?? ''), 'the key of one of the stores')
    t.strictSame(fromTwo, fromOne)

    const alice = await one.createUser(newUser('alice'))
    t.strictSame(await two.findUserById(alice.id), alice, 'a write through one is read through the other')
    await t.rejects(two.createUser(newUser('alice')), DuplicateUsernameError)
  })

  t.test('two stores on one database rotating one token: exactly one rotates', async t => {
    const location = backend.newLocation(t)
    const one = await open(t, location)
    const two = await open(t, location)
    const alice = await one.createUser(newUser('alice'))
    await one.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

    const nexts = Array.from({ length: 10 }, (_, index) => `next-${index}`)
    const results = await Promise.all(nexts.map((next, index) =>
      (index % 2 === 0 ? one : two).rotateRefreshToken('t1', newToken(next, 2000, 6000), 2000)))
    t.equal(results.filter(result => result.outcome === 'rotated').length, 1)
    t.equal(results.filter(result => result.outcome === 'spent').length, 9)
    const stored = await Promise.all(nexts.map(next => two.findRefreshToken(next)))
    t.equal(stored.filter(found => found !== null).length, 1, 'only the rotation that won stored its token')
  })

  t.test('processes opening a new database at the same moment apply the schema once and agree on one key', async t => {
    // Each process opens every database it is sent as soon as it reads its name, so that the processes race on each new one.
    const kids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']
    const children = startWorkers(t, kids, `
      for await (const location of lines) {
        const store = ${backend.openInWorker}
        const keys = await store.addFirstSigningKey({ kid: name, alg: 'ES256', privateKey: name, publicKey: name, createdAt: 1000 })
        await store.close()
        process.stdout.write(JSON.stringify(keys) + '\\n')
      }
    `)

    for (const { nextLine } of children) t.equal(await nextLine(), 'ready')
    for (let round = 1; round <= 5; round++) {
      const location = backend.newLocation(t)
      for (const { child } of children) child.stdin.write(`${location}\n`)
      const results = await Promise.all(children.map(async ({ nextLine }) => JSON.parse(await nextLine()) as SigningKey[]))

      t.equal(results[0]?.length, 1, `round ${round}: one key`)
      t.ok(kids.includes(results[0]?.[0]?.kid ?? ''), `round ${round}: the key of one of the processes`)
      t.strictSame(results, kids.map(() => results[0]), `round ${round}: every process got that key`)
      t.strictSame((await backend.readMigrations(location)).map(({ version }) => version), backend.migrations.map(({ version }) => version),
        `round ${round}: each migration applied once`)
    }
    for (const { child } of children) child.stdin.end()
    t.strictSame(await Promise.all(children.map(({ exited }) => exited)), kids.map(() => 0), 'every process exited cleanly')
  })

  t.test('processes rotating one token at the same moment: exactly one rotates', async t => {
    // Each process opens the database first and rotates only when sent the hash, so that the rotations race.
    const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']
    const children = startWorkers(t, names, `
      for await (const location of lines) {
        const store = ${backend.openInWorker}
        process.stdout.write('open\\n')
        const hash = (await lines.next()).value
        const result = await store.rotateRefreshToken(hash, { hash: hash + '-' + name, createdAt: 2000, expiresAt: 6000 }, 2000)
        await store.close()
        process.stdout.write(JSON.stringify(result) + '\\n')
      }
    `)

    for (const { nextLine } of children) t.equal(await nextLine(), 'ready')
    for (let round = 1; round <= 5; round++) {
      const location = backend.newLocation(t)
      const store = await backend.open(location)
      const alice = await store.createUser(newUser('alice'))
      await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

      for (const { child } of children) child.stdin.write(`${location}\n`)
      for (const { nextLine } of children) t.equal(await nextLine(), 'open', `round ${round}: opened`)
      for (const { child } of children) child.stdin.write('t1\n')
      const results = await Promise.all(children.map(async ({ nextLine }) => JSON.parse(await nextLine()) as RotationResult))

      const winners = names.filter((_, index) => results[index]?.outcome === 'rotated')
      t.equal(winners.length, 1, `round ${round}: one process rotated`)
      t.equal(results.filter(result => result.outcome === 'spent').length, names.length - 1, `round ${round}: the others saw it spent`)
      for (const name of names) {
        t.equal(await store.findRefreshToken(`t1-${name}`) !== null, winners.includes(name), `round ${round}: ${name}'s token stored only if it won`)
      }
      await store.close()
    }
    for (const { child } of children) child.stdin.end()
    t.strictSame(await Promise.all(children.map(({ exited }) => exited)), names.map(() => 0), 'every process exited cleanly')
  })
}

function readSqliteMigrations (file: string): AppliedMigration[] {
  const db = new Database(file, { fileMustExist: true })
  try {
    return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as AppliedMigration[]
  } finally {
    db.close()
  }
}

t.test('SqliteStore on a file', async t => {
  sharedBackendTests(t, {
    // The files go with the temporary directory.
    newLocation: () => newFile(),
    open: async file => new SqliteStore(file),
    openInWorker: 'new SqliteStore(location)',
    readMigrations: async file => readSqliteMigrations(file),
    migrations
  })

  t.test('creates the directory, uses WAL, and applies each migration once across reopenings', async t => {
    const file = newFile()
    await new SqliteStore(file).close()
    t.ok(fs.existsSync(file), 'the file and its directory exist')

    const applied = readSqliteMigrations(file)
    t.strictSame(applied.map(({ version, name }) => ({ version, name })), migrations.map(({ version, name }) => ({ version, name })))

    await new SqliteStore(file).close()
    t.strictSame(readSqliteMigrations(file), applied, 'reopening applied nothing again')

    const db = new Database(file, { fileMustExist: true })
    t.teardown(() => db.close())
    t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  })

  t.test('migration 2 upgrades a database made by migration 1 and keeps its users', async t => {
    const file = newFile()
    fs.mkdirSync(path.dirname(file), { recursive: true })
    // The database as SqliteStore left it before migration 2 existed.
    const db = new Database(file)
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT')
    db.exec(migrations[0]!.sql)
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ?, 1000)').run(migrations[0]!.name)
    db.prepare(`
      INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
      VALUES ('00000000-0000-4000-8000-000000000001', 'alice', NULL, NULL, '["read"]', 0, 'hash', 0, 1000)
    `).run()
    db.close()

    await checkUpgradeFromMigration1(t, {
      open: async () => new SqliteStore(file),
      readMigrations: async () => readSqliteMigrations(file),
      migrations
    })
  })
})

t.test('SqliteWorkerStore on a file', async t => {
  sharedBackendTests(t, {
    newLocation: () => newFile(),
    open: async file => await SqliteWorkerStore.open(file),
    openInWorker: 'await SqliteWorkerStore.open(location)',
    readMigrations: async file => readSqliteMigrations(file),
    migrations
  })

  t.test('a database that cannot be opened rejects with the reason, and leaves no thread behind', async t => {
    const file = path.join(tmp, 'a-file')
    fs.writeFileSync(file, '')
    const children = startWorkers(t, ['opener'], `
      const error = await SqliteWorkerStore.open(${JSON.stringify(path.join(file, 'auth.db'))}).then(() => null, error => error)
      process.stdout.write((error?.message ?? 'opened') + '\\n')
    `)
    const [{ child, nextLine, exited }] = children as [typeof children[number]]
    t.equal(await nextLine(), 'ready')
    // Its standard input, which startWorkers reads, would keep it alive.
    child.stdin.end()
    t.match(await nextLine(), /^EEXIST|^ENOTDIR/)
    t.equal(await exited, 0, 'the process ended by itself')
  })

  t.test('the thread keeps a process alive while a call waits for it, and no longer', async t => {
    const file = newFile()
    const children = startWorkers(t, ['caller'], `
      const store = await SqliteWorkerStore.open(${JSON.stringify(file)})
      // Nothing but the call's answer is left to wait for: the process must not end before it.
      store.createUser({ username: 'alice', scopes: [], passwordHash: 'hash' })
        .then(user => process.stdout.write(user.username + '\\n'))
    `)
    const [{ child, nextLine, exited }] = children as [typeof children[number]]
    t.equal(await nextLine(), 'ready')
    // Its standard input, which startWorkers reads, would keep it alive.
    child.stdin.end()
    t.equal(await nextLine(), 'alice')
    t.equal(await exited, 0, 'the process ended by itself, the store still open')
    const store = await SqliteWorkerStore.open(file)
    t.teardown(() => store.close())
    t.equal((await store.findUserByUsername('alice'))?.username, 'alice', 'the write was committed')
  })

  t.test('after close every call rejects, and closing again does nothing', async t => {
    const store = await SqliteWorkerStore.open(newFile())
    await store.close()
    await t.rejects(store.countUsers(), { message: 'the store is closed' })
    await t.resolves(store.close())
  })
})

async function readPostgresMigrations (schema: string): Promise<AppliedMigration[]> {
  const { rows } = await admin.query<AppliedMigration>(
    `SELECT version, name, applied_at::float8 AS applied_at FROM ${pg.escapeIdentifier(schema)}.schema_migrations ORDER BY version`
  )
  return rows
}

/**
 * Opens `count` stores on `schema` at the same moment, each closed at teardown. It waits for every
 * one even when one fails, so that none is still opening, and creates the schema again, after its drop.
 */
async function openAtOnce (t: Teardown, count: number, url: string, schema: string): Promise<PostgresStore[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => PostgresStore.open(url, { schema })))
  const stores = settled.flatMap(result => result.status === 'fulfilled' ? [result.value] : [])
  for (const store of stores) t.teardown(() => store.close())
  for (const result of settled) if (result.status === 'rejected') throw result.reason
  return stores
}

t.test('PostgresStore on a database', { skip: skipPostgres }, async t => {
  sharedBackendTests(t, {
    newLocation: newSchema,
    open: async schema => await PostgresStore.open(postgresUrl, { schema }),
    openInWorker: 'await PostgresStore.open(process.env.TEST_POSTGRES_URL, { schema: location })',
    readMigrations: readPostgresMigrations,
    migrations: postgresMigrations
  })

  t.test('stores opened at the same instant on a new schema apply the migrations once and agree on one key', async t => {
    for (let round = 1; round <= 5; round++) {
      const schema = newSchema(t)
      const kids = ['s1', 's2', 's3', 's4', 's5', 's6']
      const stores = await openAtOnce(t, kids.length, postgresUrl, schema)
      const results = await Promise.all(stores.map((store, index) => store.addFirstSigningKey(signingKey(kids[index]!, 1000))))

      t.equal(results[0]?.length, 1, `round ${round}: one key`)
      t.ok(kids.includes(results[0]?.[0]?.kid ?? ''), `round ${round}: the key of one of the stores`)
      t.strictSame(results, kids.map(() => results[0]), `round ${round}: every store got that key`)
      t.strictSame((await readPostgresMigrations(schema)).map(({ version }) => version), postgresMigrations.map(({ version }) => version),
        `round ${round}: each migration applied once`)
    }
  })

  t.test('keeps one key and one winner when the server\'s default isolation is SERIALIZABLE', async t => {
    // Set for these connections only, through the URL's options parameter.
    const url = withQuery(postgresUrl, `options=${encodeURIComponent('-c default_transaction_isolation=serializable')}`)
    const schema = newSchema(t)
    const stores = await openAtOnce(t, 4, url, schema)

    const keys = await Promise.all(stores.map((store, index) => store.addFirstSigningKey(signingKey(`k${index}`, 1000))))
    t.equal(keys[0]?.length, 1, 'one key')
    t.strictSame(keys, stores.map(() => keys[0]), 'every store got that key')

    const alice = await stores[0]!.createUser(newUser('alice'))
    await stores[0]!.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))
    const results = await Promise.all(Array.from({ length: 8 }, (_, index) =>
      stores[index % stores.length]!.rotateRefreshToken('t1', newToken(`next-${index}`, 2000, 6000), 2000)))
    t.equal(results.filter(result => result.outcome === 'rotated').length, 1, 'one rotation')
    t.equal(results.filter(result => result.outcome === 'spent').length, 7, 'the others saw it spent')
  })

  t.test('creates a missing schema, and uses an existing one without touching what else it holds', async t => {
    const schema = newSchema(t)
    const quoted = pg.escapeIdentifier(schema)
    await admin.query(`CREATE SCHEMA ${quoted}`)
    await admin.query(`CREATE TABLE ${quoted}.other (id INTEGER)`)
    const store = await PostgresStore.open(postgresUrl, { schema })
    t.teardown(() => store.close())
    await store.createUser(newUser('alice'))
    const { rows } = await admin.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema])
    t.strictSame(rows.map(row => row.table_name), [
      'clients', 'other', 'refresh_families', 'refresh_tokens', 'revoked_tokens', 'schema_migrations', 'signing_keys', 'users'
    ])
  })

  t.test('every pooled connection works in the store\'s schema', async t => {
    const schema = newSchema(t)
    const store = await PostgresStore.open(postgresUrl, { schema })
    t.teardown(() => store.close())
    const alice = await store.createUser(newUser('alice'))
    // More at once than one connection serves, so that the pool opens several.
    const found = await Promise.all(Array.from({ length: 20 }, () => store.findUserById(alice.id)))
    t.strictSame(found, found.map(() => alice))
  })

  t.test('migration 2 upgrades a schema made by migration 1 and keeps its users', async t => {
    const schema = newSchema(t)
    const quoted = pg.escapeIdentifier(schema)
    // The schema as PostgresStore left it before migration 2 existed.
    await admin.query(`
      BEGIN;
      CREATE SCHEMA ${quoted};
      SET LOCAL search_path TO ${quoted};
      CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
      ${postgresMigrations[0]!.sql};
      INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ${pg.escapeLiteral(postgresMigrations[0]!.name)}, 1000);
      INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
      VALUES ('00000000-0000-4000-8000-000000000001', 'alice', NULL, NULL, '["read"]', false, 'hash', 0, 1000);
      COMMIT;
    `)

    await checkUpgradeFromMigration1(t, {
      open: async () => await PostgresStore.open(postgresUrl, { schema }),
      readMigrations: async () => await readPostgresMigrations(schema),
      migrations: postgresMigrations
    })
  })
})

t.test('openStore', async t => {
  t.test("'memory:' opens a MemoryStore", async t => {
    const store = await openStore('memory:')
    t.teardown(() => store.close())
    t.ok(store instanceof MemoryStore)
    await t.resolves(store.ping())
  })

  t.test("'sqlite:<path>' opens a SqliteStore on that file, in a worker thread", async t => {
    const file = newFile()
    const store = await openStore(`sqlite:${file}`)
    t.teardown(() => store.close())
    t.ok(store instanceof SqliteWorkerStore)
    t.ok(fs.existsSync(file))
  })

  t.test("'sqlite::memory:' opens an in-memory SqliteStore, in a worker thread", async t => {
    const cwd = process.cwd()
    process.chdir(tmp)
    t.teardown(() => process.chdir(cwd))
    const store = await openStore('sqlite::memory:')
    t.teardown(() => store.close())
    t.ok(store instanceof SqliteWorkerStore)
    await store.createUser(newUser('alice'))
    t.equal(await store.countUsers(), 1)
    t.notOk(fs.existsSync(path.join(tmp, ':memory:')), 'no file named :memory:')
  })

  t.test("'postgres://…?schema=<name>' and 'postgresql://…' open a PostgresStore in that schema", { skip: skipPostgres }, async t => {
    for (const url of [postgresUrl, postgresUrl.replace(/^postgres(ql)?:/, 'postgresql:')]) {
      const schema = newSchema(t)
      const store = await openStore(withQuery(url, `schema=${encodeURIComponent(schema)}`))
      t.teardown(() => store.close())
      t.ok(store instanceof PostgresStore, `${url.split(':')[0]}: a PostgresStore`)
      await store.createUser(newUser('alice'))
      const { rows } = await admin.query(`SELECT username FROM ${pg.escapeIdentifier(schema)}.users`)
      t.strictSame(rows, [{ username: 'alice' }], `${url.split(':')[0]}: written in the schema`)
    }
  })

  t.test('a PostgreSQL URL that fails never shows its password', async t => {
    // Port 1 on the loopback refuses at once, so that this needs no server.
    for (const url of ['postgres://u:secret@127.0.0.1:1/db', 'postgresql://u:secret@127.0.0.1:1/db?schema=s&sslmode=disable']) {
      const err = await openStore(url).then(() => null, (err: Error) => err)
      t.ok(err instanceof Error, `${url.split(':')[0]} rejects`)
      t.notMatch(err?.message, 'secret')
      t.notMatch(err?.stack, 'secret')
    }
    const err = await openStore('postgres://u:secret@h/db?schema=').then(() => null, (err: Error) => err)
    t.match(err?.message, "empty 'schema' parameter")
    t.notMatch(err?.message, 'secret')
  })

  t.test('rejects other forms, naming the scheme and never the password', async t => {
    const cases: Array<[url: string, scheme: string]> = [
      ['mysql://u:secret@h/db', "'mysql:'"],
      ['postgres:u:secret@h/db', "'postgres:'"],
      ['memory:secret', "'memory:'"]
    ]
    for (const [url, scheme] of cases) {
      const err = await openStore(url).then(() => null, (err: Error) => err)
      t.ok(err instanceof Error, `${scheme} rejects`)
      t.match(err?.message, `scheme ${scheme}`)
      t.match(err?.message, 'sqlite:<path>', 'lists the supported forms')
      t.match(err?.message, 'postgres://', 'lists PostgreSQL among them')
      t.notMatch(err?.message, 'secret')
    }
    await t.rejects(openStore('./secret.db'), { message: /without a scheme/ })
    await t.rejects(openStore('sqlite:'), { message: /names no file/ })
  })
})
