import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'
import t, { type Test } from 'tap'
import { DuplicateUsernameError, SqliteWorkerStore } from '../../store/index.js'
import { PostgresStore } from '../../store/postgres.js'
import { migrations as postgresMigrations } from '../../store/postgres-migrations.js'
import { SqliteStore } from '../../store/sqlite.js'
import { migrations as sqliteMigrations } from '../../store/sqlite-migrations.js'
import type { RotationResult, SigningKey, Store } from '../../store/index.js'
import { newClient, newFamily, newToken, newUser, signingKey, WEB_TERMS } from '../../testing/fixtures.js'
import type { Migration } from '../../store/sqlite-migrations.js'
import { DIST } from '../paths.js'

export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'store-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

let files = 0
// A directory that does not exist yet, so that every SQLite test also proves the store creates it.
export function newFile (): string {
  return path.join(tmp, `db-${++files}`, 'auth.db')
}

// The PostgreSQL tests run only where a server is at hand, each in schemas of its own so that runs do not collide.
export const postgresUrl = process.env.TEST_POSTGRES_URL ?? ''
export const skipPostgres = postgresUrl === '' ? 'TEST_POSTGRES_URL is not set: PostgreSQL store tests skipped' : false
// Creates and drops the tests' schemas; it connects only when a PostgreSQL test runs.
export const admin = new pg.Pool({ connectionString: postgresUrl })
t.teardown(() => admin.end())

export interface Teardown {
  teardown (fn: () => unknown): void
}

/** A schema no store has used yet, dropped with everything in it at teardown, after the stores that `t` closes. */
export function newSchema (t: Teardown): string {
  const schema = `t_${randomBytes(8).toString('hex')}`
  t.teardown(() => admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`))
  return schema
}

/** Adds `query` to whatever parameters `url` has already. */
export function withQuery (url: string, query: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${query}`
}

// The processes load what the build made of the stores (test/before.ts keeps it current), as the
// tests and the SQLite store's worker thread do.
const storeModule = (name: string): string => JSON.stringify(pathToFileURL(path.join(DIST, 'store', `${name}.js`)).href)

/**
 * Starts one process per name that loads the stores, writes 'ready', then runs `body` with
 * `SqliteStore`, `SqliteWorkerStore`, `PostgresStore`, its `name` and `lines`, an async iterator over the lines of its standard input.
 */
export function startWorkers (t: Teardown, names: string[], body: string) {
  const script = `
    import { createInterface } from 'node:readline'
    const { SqliteWorkerStore } = await import(${storeModule('index')})
    const { SqliteStore } = await import(${storeModule('sqlite')})
    const { PostgresStore } = await import(${storeModule('postgres')})
    const name = process.env.WORKER_NAME
    const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
    process.stdout.write('ready\\n')
    ${body}
  `
  const workers = names.map(name => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], {
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

export interface AppliedMigration {
  version: number
  name: string
  applied_at: number
}

/**
 * Opens a database that migration 1 made, holding user alice, and checks that the store applies the
 * later migrations once, keeps alice, and writes to what they added.
 */
export async function checkUpgradeFromMigration1 (t: Test, backend: {
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

  await store.createRefreshFamily(newFamily(alice?.id ?? '', 'f1', { jkt: 'k1' }), newToken('t1', 1000, 5000))
  await store.createClient(newClient('web'))
  await store.revokeAccessToken('j1', 5000, 1000)
  t.equal((await store.findRefreshToken('t1'))?.family.userId, alice?.id)
  t.equal((await store.findRefreshToken('t1'))?.family.jkt, 'k1', 'families have a DPoP key')
  t.equal(await store.useDPoPProof('p1', 5000, 1000), true, 'DPoP proofs are recorded')
  await (await backend.open()).close()
  t.strictSame(await backend.readMigrations(), applied, 'reopening applied nothing again')
}

/**
 * What a store at migration 3 held, in statements for both SQL dialects (`no` is each one's false):
 * alice, with an e-mail address, and a login made at 1000 and refreshed at 2000, and one never refreshed.
 */
export function rowsAtMigration3 (no: string): string {
  return `
    INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
    VALUES ('00000000-0000-4000-8000-000000000001', 'alice', 'Alice@Example.com', NULL, '["read"]', ${no}, 'hash', 0, 1000);
    INSERT INTO refresh_families (id, user_id, client_id, scopes, token_version, created_at, expires_at, revoked_at)
    VALUES ('refreshed', '00000000-0000-4000-8000-000000000001', 'web', '["read"]', 0, 1000, 10000, NULL),
      ('made', '00000000-0000-4000-8000-000000000001', 'web', '["read"]', 0, 1500, 10000, NULL);
    INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, spent_at)
    VALUES ('t1', 'refreshed', 1000, 5000, 2000), ('t2', 'refreshed', 2000, 6000, NULL), ('m1', 'made', 1500, 5500, NULL);
  `
}

/** Migration 4 kept alice unverified, and dated each login's last use by its newest token. */
export async function checkUpgradeToMigration4 (t: Test, store: Store): Promise<void> {
  const alice = await store.findUserByUsername('alice')
  t.equal(alice?.emailVerified, false, 'an address nobody proved is not verified')
  t.strictSame((await store.findUserById(alice?.id ?? ''))?.email, 'Alice@Example.com')
  t.strictSame((await store.listSessions(alice?.id ?? '', 3000)).map(session => [session.id, session.lastUsedAt]), [['refreshed', 2000], ['made', 1500]])
}

/** A backend that several stores, in one process or in several, share through one database. */
export interface SharedBackend {
  /** Names a database no store has opened yet (a file, a schema), removed at `t`'s teardown. */
  newLocation: (t: Teardown) => string
  open: (location: string) => Promise<Store>
  /** The expression with which a process of startWorkers opens the store at `location`. */
  openInWorker: string
  readMigrations: (location: string) => Promise<AppliedMigration[]>
  migrations: ReadonlyArray<Migration>
}

/** The tests of sharing: what one store wrote, another reads, and racing stores agree. */
export function sharedBackendTests (t: Test, backend: SharedBackend): void {
  async function open (t: Teardown, location: string): Promise<Store> {
    const store = await backend.open(location)
    t.teardown(() => store.close())
    return store
  }

  t.test('numbers its migrations 1, 2, 3… in order', async t => {
    t.strictSame(backend.migrations.map(migration => migration.version), backend.migrations.map((_migration, index) => index + 1))
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
    // Bob's: a login of the disabled alice would not rotate.
    await store.createRefreshFamily(newFamily(bob.id, 'f1', { scopes: ['read', 'write'] }), newToken('t1', 1000, 5000))
    await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000, WEB_TERMS)
    await store.createRefreshFamily(newFamily(bob.id, 'f2', { clientId: 'cli' }), newToken('u1', 1000, 5000))
    await store.revokeRefreshFamily('f2', 3000)
    const hashes = ['t1', 't2', 'u1']
    const tokens = await Promise.all(hashes.map(hash => store.findRefreshToken(hash)))
    await store.revokeAccessToken('j1', 5000, 1000)
    await store.close()

    const reopened = await open(t, location)
    t.strictSame(await reopened.listUsers(), [updated, bob])
    t.strictSame(await reopened.findUserByUsername('alice'), updated)
    t.strictSame(await reopened.listSigningKeys(), keys)
    t.equal(await reopened.countUsers(), 2)
    t.strictSame(await reopened.listClients(), clients)
    t.strictSame(await Promise.all(hashes.map(hash => reopened.findRefreshToken(hash))), tokens)
    t.equal(tokens[0]?.token.spentAt, 2000, 'the spent token was read back spent')
    t.strictSame((await reopened.revocationsSince(0)).filter(revocation => revocation.kind === 'access_token'),
      [{ kind: 'access_token', id: 'j1', at: 1000, expiresAt: 5000 }])
    t.strictSame(await reopened.rotateRefreshToken('t1', newToken('t3', 3000, 7000), 3000, WEB_TERMS),
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
      (index % 2 === 0 ? one : two).rotateRefreshToken('t1', newToken(next, 2000, 6000), 2000, WEB_TERMS)))
    t.equal(results.filter(result => result.outcome === 'rotated').length, 1)
    t.equal(results.filter(result => result.outcome === 'spent').length, 9)
    const stored = await Promise.all(nexts.map(next => two.findRefreshToken(next)))
    t.equal(stored.filter(found => found !== null).length, 1, 'only the rotation that won stored its token')
  })
}

/**
 * The tests of stores in several processes racing on one database: a file of its own per backend,
 * since each test starts six processes (which tap's parallel files then share the cores with).
 */
export function racingProcessTests (t: Test, backend: SharedBackend): void {
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
        const result = await store.rotateRefreshToken(hash, { hash: hash + '-' + name, createdAt: 2000, expiresAt: 6000 }, 2000, ${JSON.stringify(WEB_TERMS)})
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

  t.test('processes accepting one TOTP time step or spending one recovery code at the same moment: exactly one succeeds', async t => {
    // Each process opens the database first and tries only when sent what to try, so that the tries race.
    const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']
    const children = startWorkers(t, names, `
      for await (const location of lines) {
        const store = ${backend.openInWorker}
        process.stdout.write('open\\n')
        const [userId, what, value] = (await lines.next()).value.split(' ')
        const result = what === 'step' ? await store.acceptTotpStep(userId, Number(value)) : await store.spendRecoveryCode(userId, value)
        await store.close()
        process.stdout.write(JSON.stringify(result) + '\\n')
      }
    `)

    for (const { nextLine } of children) t.equal(await nextLine(), 'ready')
    for (let round = 1; round <= 4; round++) {
      const location = backend.newLocation(t)
      const store = await backend.open(location)
      const alice = await store.createUser(newUser('alice'))
      await store.startTotpEnrollment(alice.id, 'secret', 1000)
      await store.activateTotpEnrollment(alice.id, 'secret', 100, ['h1'])
      const attempt = round % 2 === 1 ? 'step 101' : 'code h1'

      for (const { child } of children) child.stdin.write(`${location}\n`)
      for (const { nextLine } of children) t.equal(await nextLine(), 'open', `round ${round}: opened`)
      for (const { child } of children) child.stdin.write(`${alice.id} ${attempt}\n`)
      const results = await Promise.all(children.map(async ({ nextLine }) => JSON.parse(await nextLine()) as boolean))

      t.equal(results.filter(accepted => accepted).length, 1, `round ${round} (${attempt}): one process succeeded`)
      if (attempt === 'step 101') t.equal((await store.findTotpEnrollment(alice.id))?.lastStep, 101)
      await store.close()
    }
    for (const { child } of children) child.stdin.end()
    t.strictSame(await Promise.all(children.map(({ exited }) => exited)), names.map(() => 0), 'every process exited cleanly')
  })
}

export function readSqliteMigrations (file: string): AppliedMigration[] {
  const db = new Database(file, { fileMustExist: true })
  try {
    return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as AppliedMigration[]
  } finally {
    db.close()
  }
}

export async function readPostgresMigrations (schema: string): Promise<AppliedMigration[]> {
  const { rows } = await admin.query<AppliedMigration>(
    `SELECT version, name, applied_at::float8 AS applied_at FROM ${pg.escapeIdentifier(schema)}.schema_migrations ORDER BY version`
  )
  return rows
}

/**
 * Opens `count` stores on `schema` at the same moment, each closed at teardown. It waits for every
 * one even when one fails, so that none is still opening, and creates the schema again, after its drop.
 */
export async function openAtOnce (t: Teardown, count: number, url: string, schema: string): Promise<PostgresStore[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => PostgresStore.open(url, { schema })))
  const stores = settled.flatMap(result => result.status === 'fulfilled' ? [result.value] : [])
  for (const store of stores) t.teardown(() => store.close())
  for (const result of settled) if (result.status === 'rejected') throw result.reason
  return stores
}

/** SqliteStore on files of the temporary directory, which go with it. */
export const sqliteBackend: SharedBackend = {
  newLocation: () => newFile(),
  open: async file => new SqliteStore(file),
  openInWorker: 'new SqliteStore(location)',
  readMigrations: async file => readSqliteMigrations(file),
  migrations: sqliteMigrations
}

export const sqliteWorkerBackend: SharedBackend = {
  newLocation: () => newFile(),
  open: async file => await SqliteWorkerStore.open(file),
  openInWorker: 'await SqliteWorkerStore.open(location)',
  readMigrations: async file => readSqliteMigrations(file),
  migrations: sqliteMigrations
}

export const postgresBackend: SharedBackend = {
  newLocation: newSchema,
  open: async schema => await PostgresStore.open(postgresUrl, { schema }),
  openInWorker: 'await PostgresStore.open(process.env.TEST_POSTGRES_URL, { schema: location })',
  readMigrations: readPostgresMigrations,
  migrations: postgresMigrations
}
