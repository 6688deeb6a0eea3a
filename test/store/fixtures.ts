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
import { DuplicateClientError, DuplicateUsernameError, PostgresStore } from '../../store/index.js'
import type {
  Client,
  NewRefreshToken,
  NewUser,
  RefreshFamily,
  RotationResult,
  SigningKey,
  Store,
  User,
  UserChanges
} from '../../store/index.js'
import type { Migration } from '../../store/sqlite-migrations.js'

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

const storeModule = pathToFileURL(fileURLToPath(new URL('../../store/index.ts', import.meta.url))).href

/**
 * Starts one process per name that loads the stores, writes 'ready', then runs `body` with
 * `SqliteStore`, `SqliteWorkerStore`, `PostgresStore`, its `name` and `lines`, an async iterator over the lines of its standard input.
 */
export function startWorkers (t: Teardown, names: string[], body: string) {
  const script = `
    import { createInterface } from 'node:readline'
    const { SqliteStore, SqliteWorkerStore, PostgresStore } = await import(${JSON.stringify(storeModule)})
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

export interface Implementation {
  name: string
  /** Why the implementation's tests are skipped, if they are. */
  skip?: string | false
  /** Opens a new, empty store; what it leaves behind goes at `t`'s teardown. */
  open: (t: Teardown) => Promise<Store>
}


export function newUser (username: string, extra: Partial<NewUser> = {}): NewUser {
  return { username, scopes: ['read'], passwordHash: `$argon2id$v=19$m=65536,t=3,p=4$${username}`, ...extra }
}

export function signingKey (kid: string, createdAt: number): SigningKey {
  return {
    kid,
    alg: 'ES256',
    privateKey: `-----BEGIN PRIVATE KEY-----\n${kid}\n-----END PRIVATE KEY-----\n`,
    publicKey: `-----BEGIN PUBLIC KEY-----\n${kid}\n-----END PUBLIC KEY-----\n`,
    createdAt
  }
}

// A family from 1000 to 10000; the tests' clock is these numbers, never Date.now().
export function newFamily (userId: string, id: string, extra: Partial<Omit<RefreshFamily, 'revokedAt'>> = {}): Omit<RefreshFamily, 'revokedAt'> {
  return { id, userId, clientId: 'web', scopes: ['read'], tokenVersion: 0, createdAt: 1000, expiresAt: 10_000, ...extra }
}

export function newToken (hash: string, createdAt: number, expiresAt: number): NewRefreshToken {
  return { hash, createdAt, expiresAt }
}

export function newClient (id: string, extra: Partial<Client> = {}): Client {
  return { id, secretHash: `$argon2id$v=19$m=65536,t=3,p=4$${id}`, scopes: ['read'], createdAt: 1000, ...extra }
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

  await store.createRefreshFamily(newFamily(alice?.id ?? '', 'f1'), newToken('t1', 1000, 5000))
  await store.createClient(newClient('web'))
  await store.revokeAccessToken('j1', 5000, 1000)
  t.equal((await store.findRefreshToken('t1'))?.family.userId, alice?.id)
  await (await backend.open()).close()
  t.strictSame(await backend.readMigrations(), applied, 'reopening applied nothing again')
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

/** The contract every store passes: what the plugin relies on, checked on one implementation. */
export function storeContract (implementation: Implementation): void {
  t.test(implementation.name, { skip: implementation.skip ?? false }, async t => {
    async function open (t: Teardown): Promise<Store> {
      const store = await implementation.open(t)
      t.teardown(() => store.close())
      return store
    }

    t.test('creates a user with defaults and finds it by username and by id', async t => {
      const store = await open(t)
      const before = Date.now()
      const user = await store.createUser(newUser('alice'))
      const after = Date.now()

      t.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      t.same(user, {
        id: user.id,
        username: 'alice',
        email: null,
        fullName: null,
        scopes: ['read'],
        disabled: false,
        passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$alice',
        tokenVersion: 0,
        createdAt: user.createdAt
      })
      t.ok(user.createdAt >= before && user.createdAt <= after, 'createdAt is the time of creation')
      t.strictSame(await store.findUserByUsername('alice'), user)
      t.strictSame(await store.findUserById(user.id), user)
    })

    t.test('keeps the email, full name and scopes given at creation', async t => {
      const store = await open(t)
      const user = await store.createUser(newUser('bob', {
        email: 'bob@example.com',
        fullName: 'Bob Ross',
        scopes: ['read', 'write', 'admin']
      }))
      t.equal(user.email, 'bob@example.com')
      t.equal(user.fullName, 'Bob Ross')
      t.strictSame(user.scopes, ['read', 'write', 'admin'])
      t.strictSame(await store.findUserById(user.id), user)

      const noScopes = await store.createUser(newUser('carol', { scopes: [] }))
      t.strictSame((await store.findUserById(noScopes.id))?.scopes, [])
    })

    t.test('finds no user by an unknown username or id', async t => {
      const store = await open(t)
      await store.createUser(newUser('alice'))
      t.equal(await store.findUserByUsername('bob'), null)
      t.equal(await store.findUserByUsername('Alice'), null, 'usernames are compared exactly')
      t.equal(await store.findUserById('00000000-0000-4000-8000-000000000000'), null)
    })

    t.test('refuses a taken username with DuplicateUsernameError', async t => {
      const store = await open(t)
      const first = await store.createUser(newUser('alice'))
      const err = await store.createUser(newUser('alice', { passwordHash: 'other' })).then(
        () => { throw new Error('createUser resolved') },
        (err: unknown) => err
      )
      t.ok(err instanceof DuplicateUsernameError, 'is a DuplicateUsernameError')
      t.equal((err as DuplicateUsernameError).code, 'DUPLICATE_USERNAME')
      t.equal(await store.countUsers(), 1)
      t.strictSame(await store.findUserByUsername('alice'), first, 'the first user is untouched')
    })

    t.test('updates each field on its own', async t => {
      const store = await open(t)
      const cases: UserChanges[] = [
        { email: 'alice@example.com' },
        { email: null },
        { fullName: 'Alice Liddell' },
        { fullName: null },
        { scopes: ['read', 'write'] },
        { scopes: [] },
        { disabled: true },
        { disabled: false },
        { passwordHash: '$argon2id$new' }
      ]
      let user = await store.createUser(newUser('alice', { email: 'a@example.com', fullName: 'A' }))
      for (const changes of cases) {
        const updated = await store.updateUser(user.id, changes)
        const expected = { ...user, ...changes }
        t.strictSame(updated, expected, `updateUser(${JSON.stringify(changes)})`)
        t.strictSame(await store.findUserById(user.id), expected, `stored ${JSON.stringify(changes)}`)
        user = expected
      }
      t.equal(user.tokenVersion, 0, 'no change raised tokenVersion by itself')
    })

    t.test('updates several fields at once and leaves out undefined ones', async t => {
      const store = await open(t)
      const user = await store.createUser(newUser('alice', { email: 'a@example.com', fullName: 'A' }))
      const updated = await store.updateUser(user.id, {
        email: undefined,
        fullName: 'Alice',
        scopes: ['admin'],
        disabled: true
      })
      t.strictSame(updated, { ...user, fullName: 'Alice', scopes: ['admin'], disabled: true })
      t.strictSame(await store.updateUser(user.id, {}), updated, 'no changes, no difference')
    })

    t.test('revokeTokens raises tokenVersion by exactly one in the same write', async t => {
      const store = await open(t)
      const user = await store.createUser(newUser('alice'))

      const revoked = await store.updateUser(user.id, { revokeTokens: true })
      t.strictSame(revoked, { ...user, tokenVersion: 1 })

      const changed = await store.updateUser(user.id, { passwordHash: '$argon2id$new', revokeTokens: true })
      t.strictSame(changed, { ...user, passwordHash: '$argon2id$new', tokenVersion: 2 })

      t.strictSame(await store.updateUser(user.id, { revokeTokens: false }), changed, 'false raises nothing')
      t.equal((await store.findUserById(user.id))?.tokenVersion, 2)
    })

    t.test('updateUser returns null for an unknown id', async t => {
      const store = await open(t)
      const id = '00000000-0000-4000-8000-000000000000'
      t.equal(await store.updateUser(id, { email: 'x@example.com', revokeTokens: true }), null)
      t.equal(await store.findUserById(id), null)
      t.equal(await store.countUsers(), 0)
    })

    t.test('removes a user once, and a re-added username gets a new id', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const bob = await store.createUser(newUser('bob'))

      t.equal(await store.removeUser(alice.id), true)
      t.equal(await store.removeUser(alice.id), false)
      t.equal(await store.findUserById(alice.id), null)
      t.equal(await store.findUserByUsername('alice'), null)
      t.strictSame(await store.listUsers(), [bob])

      const again = await store.createUser(newUser('alice'))
      t.not(again.id, alice.id)
      t.equal(await store.findUserById(alice.id), null, 'the old id names nobody')
    })

    t.test('lists users ordered by username, by code point', async t => {
      const store = await open(t)
      // UTF-16 order would put the emoji, a surrogate pair, before U+FFFD.
      const usernames = ['😀', 'carol', '\uFFFD', 'bob', 'é', 'alice', 'alice2']
      for (const username of usernames) await store.createUser(newUser(username))
      const listed = await store.listUsers()
      t.strictSame(listed.map(user => user.username), ['alice', 'alice2', 'bob', 'carol', 'é', '\uFFFD', '😀'])
      for (const user of listed) t.strictSame(await store.findUserById(user.id), user)
    })

    t.test('counts users', async t => {
      const store = await open(t)
      t.equal(await store.countUsers(), 0)
      const alice = await store.createUser(newUser('alice'))
      await store.createUser(newUser('bob'))
      t.equal(await store.countUsers(), 2)
      await store.removeUser(alice.id)
      t.equal(await store.countUsers(), 1)
    })

    t.test('hands out copies that do not alias stored state', async t => {
      const store = await open(t)
      const input = newUser('alice', { scopes: ['read'] })
      const created = await store.createUser(input)
      const stored = structuredClone(created)

      input.scopes.push('admin')
      const results: User[] = [
        created,
        await store.findUserByUsername('alice') as User,
        await store.findUserById(created.id) as User,
        await store.updateUser(created.id, {}) as User,
        ...await store.listUsers()
      ]
      for (const user of results) {
        user.scopes.push('admin')
        user.email = 'mallory@example.com'
        user.tokenVersion = 99
        user.disabled = true
      }
      t.strictSame(await store.findUserById(created.id), stored)
      t.strictSame(await store.findUserByUsername('alice'), stored)

      const scopes = ['write']
      await store.updateUser(created.id, { scopes })
      scopes.push('admin')
      t.strictSame((await store.findUserById(created.id))?.scopes, ['write'])

      const key = signingKey('k1', 1000)
      const added = await store.addFirstSigningKey(key)
      key.privateKey = 'changed'
      for (const listed of [...added, ...await store.listSigningKeys()]) listed.kid = 'changed'
      t.strictSame(await store.listSigningKeys(), [signingKey('k1', 1000)])
    })

    t.test('keeps only the first signing key', async t => {
      const store = await open(t)
      t.strictSame(await store.listSigningKeys(), [])

      const first = signingKey('first', 1000)
      t.strictSame(await store.addFirstSigningKey(first), [first])
      t.strictSame(await store.addFirstSigningKey(signingKey('second', 2000)), [first], 'a later key is not added')
      t.strictSame(await store.listSigningKeys(), [first])
    })

    t.test('lists signing keys newest first, ties newest inserted first', async t => {
      const store = await open(t)
      for (const key of [signingKey('a', 1000), signingKey('b', 3000), signingKey('c', 2000), signingKey('d', 3000)]) {
        await store.addSigningKey(key)
      }
      const expected = [signingKey('d', 3000), signingKey('b', 3000), signingKey('c', 2000), signingKey('a', 1000)]
      t.strictSame(await store.listSigningKeys(), expected)
      t.strictSame(await store.addFirstSigningKey(signingKey('e', 4000)), expected, 'no key is added to a set')
    })

    t.test('refuses a second signing key with a taken kid', async t => {
      const store = await open(t)
      await store.addSigningKey(signingKey('a', 1000))
      await t.rejects(store.addSigningKey(signingKey('a', 2000)))
      t.strictSame(await store.listSigningKeys(), [signingKey('a', 1000)])
    })

    t.test('removes signing keys by kid', async t => {
      const store = await open(t)
      for (const key of [signingKey('a', 1000), signingKey('b', 2000), signingKey('c', 3000)]) await store.addSigningKey(key)

      await store.removeSigningKeys([])
      t.equal((await store.listSigningKeys()).length, 3, 'no kids, nothing removed')
      await store.removeSigningKeys(['a', 'c', 'unknown'])
      t.strictSame(await store.listSigningKeys(), [signingKey('b', 2000)])
      await store.removeSigningKeys(['a'])
      t.strictSame(await store.listSigningKeys(), [signingKey('b', 2000)], 'removing again changes nothing')

      await store.addSigningKey(signingKey('a', 2000))
      t.strictSame(await store.listSigningKeys(), [signingKey('a', 2000), signingKey('b', 2000)], 'a kid can come back, newest first')
    })

    t.test('replaces a signing key\'s private key by kid, and nothing else', async t => {
      const store = await open(t)
      for (const key of [signingKey('a', 1000), signingKey('b', 2000)]) await store.addSigningKey(key)

      t.equal(await store.updateSigningKey('a', '$sealed$a'), true)
      t.strictSame(await store.listSigningKeys(), [signingKey('b', 2000), { ...signingKey('a', 1000), privateKey: '$sealed$a' }])
      t.equal(await store.updateSigningKey('unknown', '$sealed$x'), false, 'no such key')
      t.equal((await store.listSigningKeys()).length, 2, 'and none added')
    })

    t.test('starts a refresh family and finds its first token', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const family = newFamily(alice.id, 'f1', { clientId: 'cli', scopes: ['read', 'write'], tokenVersion: 3 })
      await store.createRefreshFamily(family, newToken('t1', 1000, 5000))

      t.strictSame(await store.findRefreshToken('t1'), {
        token: { hash: 't1', familyId: 'f1', createdAt: 1000, expiresAt: 5000, spentAt: null },
        family: { ...family, revokedAt: null }
      })
      t.equal(await store.findRefreshToken('unknown'), null)

      await store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('u1', 1000, 20_000))
      t.equal((await store.findRefreshToken('u1'))?.token.expiresAt, 10_000, 'the first token ends with its family too')
    })

    t.test('refuses a family for an unknown user, a taken family id or a taken token hash', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

      await t.rejects(store.createRefreshFamily(newFamily('00000000-0000-4000-8000-000000000000', 'f2'), newToken('u1', 1000, 5000)))
      await t.rejects(store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('u1', 1000, 5000)))
      await t.rejects(store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('t1', 1000, 5000)))
      t.equal(await store.findRefreshToken('u1'), null)
      t.equal((await store.findRefreshToken('t1'))?.family.id, 'f1', 'the first family keeps its token')
      await t.resolves(store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('u1', 1000, 5000)),
        'no refused family was half written')
    })

    t.test('rotates a live token: it is spent, and the next joins its family ending no later than it', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const family = { ...newFamily(alice.id, 'f1'), revokedAt: null }
      await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

      t.strictSame(await store.rotateRefreshToken('t1', newToken('t2', 2000, 20_000), 2000), { outcome: 'rotated', family })
      t.strictSame(await store.findRefreshToken('t1'), {
        token: { hash: 't1', familyId: 'f1', createdAt: 1000, expiresAt: 5000, spentAt: 2000 },
        family
      })
      t.strictSame(await store.findRefreshToken('t2'), {
        token: { hash: 't2', familyId: 'f1', createdAt: 2000, expiresAt: 10_000, spentAt: null },
        family
      }, 'capped at the end of the family')

      const reused: RotationResult = { outcome: 'spent', family, spentAt: 2000 }
      t.strictSame(await store.rotateRefreshToken('t1', newToken('t3', 3000, 7000), 3000), reused)
      t.equal(await store.findRefreshToken('t3'), null, 'reuse wrote nothing')
      t.strictSame(await store.rotateRefreshToken('t1', newToken('t3', 6000, 9000), 6000), reused,
        'a spent token is reported as reused after its own expiry too')

      t.strictSame(await store.rotateRefreshToken('t2', newToken('t3', 3000, 7000), 3000), { outcome: 'rotated', family })
      t.equal((await store.findRefreshToken('t3'))?.token.expiresAt, 7000)
    })

    t.test('refuses to rotate an unknown or expired token, or one of an expired or revoked family', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const invalid: RotationResult = { outcome: 'invalid' }
      t.strictSame(await store.rotateRefreshToken('unknown', newToken('next', 2000, 6000), 2000), invalid, 'unknown')

      await store.createRefreshFamily(newFamily(alice.id, 'idle'), newToken('idle-1', 1000, 5000))
      t.strictSame(await store.rotateRefreshToken('idle-1', newToken('idle-2', 5000, 9000), 5000), invalid, 'expired token')
      t.strictSame(await store.findRefreshToken('idle-1'), {
        token: { hash: 'idle-1', familyId: 'idle', createdAt: 1000, expiresAt: 5000, spentAt: null },
        family: { ...newFamily(alice.id, 'idle'), revokedAt: null }
      }, 'an expired token stays unspent')
      t.equal(await store.findRefreshToken('idle-2'), null)

      await store.createRefreshFamily(newFamily(alice.id, 'ended'), newToken('ended-1', 1000, 5000))
      await store.rotateRefreshToken('ended-1', newToken('ended-2', 2000, 10_000), 2000)
      t.strictSame(await store.rotateRefreshToken('ended-2', newToken('ended-3', 10_000, 14_000), 10_000), invalid, 'expired family')
      t.strictSame(await store.rotateRefreshToken('ended-1', newToken('ended-3', 10_000, 14_000), 10_000), invalid,
        'a spent token of an expired family is not reported as reused')

      await store.createRefreshFamily(newFamily(alice.id, 'revoked'), newToken('revoked-1', 1000, 5000))
      await store.rotateRefreshToken('revoked-1', newToken('revoked-2', 2000, 6000), 2000)
      await store.revokeRefreshFamily('revoked', 3000)
      t.strictSame(await store.rotateRefreshToken('revoked-2', newToken('revoked-3', 3000, 7000), 3000), invalid, 'revoked family')
      t.strictSame(await store.rotateRefreshToken('revoked-1', newToken('revoked-3', 3000, 7000), 3000), invalid,
        'a spent token of a revoked family is not reported as reused')
      t.equal(await store.findRefreshToken('revoked-3'), null)
      t.equal((await store.findRefreshToken('revoked-2'))?.token.spentAt, null)

      await store.revokeRefreshFamily('revoked', 4000)
      t.equal((await store.findRefreshToken('revoked-1'))?.family.revokedAt, 3000, 'revoking again keeps the first time')
      await t.resolves(store.revokeRefreshFamily('unknown', 4000))
    })

    t.test('of ten concurrent rotations of one token exactly one rotates, the others see it spent', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const family = { ...newFamily(alice.id, 'f1'), revokedAt: null }
      await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

      const nexts = Array.from({ length: 10 }, (_, index) => `next-${index}`)
      const results = await Promise.all(nexts.map(next => store.rotateRefreshToken('t1', newToken(next, 2000, 6000), 2000)))
      t.strictSame(results.filter(result => result.outcome === 'rotated'), [{ outcome: 'rotated', family }])
      t.strictSame(results.filter(result => result.outcome !== 'rotated'), nexts.slice(1).map(() => ({ outcome: 'spent', family, spentAt: 2000 })))
      const stored = await Promise.all(nexts.map(next => store.findRefreshToken(next)))
      t.equal(stored.filter(found => found !== null).length, 1, 'only the rotation that won stored its token')
    })

    t.test('removing a user removes its refresh families and their tokens', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const bob = await store.createUser(newUser('bob'))
      await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))
      await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000)
      await store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('u1', 1000, 5000))
      await store.createRefreshFamily(newFamily(bob.id, 'f3'), newToken('v1', 1000, 5000))

      await store.removeUser(alice.id)
      for (const hash of ['t1', 't2', 'u1']) t.equal(await store.findRefreshToken(hash), null, `${hash} is gone`)
      t.strictSame(await store.rotateRefreshToken('t2', newToken('t3', 3000, 7000), 3000), { outcome: 'invalid' })
      t.equal((await store.findRefreshToken('v1'))?.family.userId, bob.id, 'another user keeps his')
      await t.resolves(store.createRefreshFamily(newFamily(bob.id, 'f1'), newToken('t1', 3000, 7000)), 'the family id is free again')
    })

    t.test('removing a client revokes its refresh families', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      await store.createClient(newClient('web'))
      await store.createRefreshFamily(newFamily(alice.id, 'web-1'), newToken('w1', 1000, 5000))
      await store.createRefreshFamily(newFamily(alice.id, 'web-2'), newToken('w2', 1000, 5000))
      await store.revokeRefreshFamily('web-2', 1500)
      await store.createRefreshFamily(newFamily(alice.id, 'other', { clientId: 'other' }), newToken('o1', 1000, 5000))

      const before = Date.now()
      t.equal(await store.removeClient('web'), true)
      const after = Date.now()
      const revokedAt = (await store.findRefreshToken('w1'))?.family.revokedAt ?? 0
      t.ok(revokedAt >= before && revokedAt <= after, 'revoked at the removal')
      t.equal((await store.findRefreshToken('w2'))?.family.revokedAt, 1500, 'a revoked family keeps its time')
      t.equal((await store.findRefreshToken('o1'))?.family.revokedAt, null, "another client's family is untouched")
      t.strictSame(await store.rotateRefreshToken('w1', newToken('w3', 2000, 6000), 2000), { outcome: 'invalid' })
      t.equal(await store.removeClient('web'), false)
    })

    t.test('revokes access tokens by jti, and lists them as revocations since a time', async t => {
      const store = await open(t)
      t.strictSame(await store.revocationsSince(0), [])
      await store.revokeAccessToken('j1', 5000, 1000)
      t.strictSame(await store.revocationsSince(0), [{ kind: 'access_token', id: 'j1', at: 1000, expiresAt: 5000 }])
      t.strictSame(await store.revocationsSince(1000), [{ kind: 'access_token', id: 'j1', at: 1000, expiresAt: 5000 }], 'at or after')
      t.strictSame(await store.revocationsSince(1001), [])

      await t.resolves(store.revokeAccessToken('j1', 4000, 1200), 'revoking twice is fine')
      await store.prune(4500)
      t.strictSame(await store.revocationsSince(0), [{ kind: 'access_token', id: 'j1', at: 1000, expiresAt: 5000 }],
        'a shorter second revocation neither shortens the first nor moves its time')
    })

    t.test('lists revoked families and changed or removed users as revocations', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const bob = await store.createUser(newUser('bob'))
      await store.createClient(newClient('web'))
      await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))
      await store.createRefreshFamily(newFamily(bob.id, 'f2', { clientId: 'cli' }), newToken('t2', 1000, 5000))
      await store.createRefreshFamily(newFamily(bob.id, 'f3', { clientId: 'web' }), newToken('t3', 1000, 5000))
      t.strictSame(await store.revocationsSince(0), [], 'creating users, clients and families revokes nothing')

      await store.revokeRefreshFamily('f1', 3000)
      await store.revokeRefreshFamily('f1', 3500)
      t.strictSame(await store.revocationsSince(0), [{ kind: 'refresh_family', id: 'f1', at: 3000, expiresAt: null }], 'the first time stands')

      const before = Date.now()
      await store.updateUser(alice.id, { disabled: true })
      t.equal(await store.updateUser('unknown', { disabled: true }), null)
      await store.removeUser(bob.id)
      t.equal(await store.removeUser('unknown'), false)
      await store.removeClient('web')
      const recent = (await store.revocationsSince(before)).filter(revocation => revocation.kind !== 'refresh_family' || revocation.id !== 'f1')
      const ids = recent.map(({ kind, id }) => `${kind}:${id}`).sort()
      t.strictSame(ids, [`user:${alice.id}`, `user:${bob.id}`].sort(), 'each user changed or removed once; the removed user\'s families went with them')
      for (const revocation of recent) {
        t.ok(revocation.at >= before && revocation.at <= Date.now(), `${revocation.kind} ${revocation.id} at the time of the change`)
        t.equal(revocation.expiresAt, null)
      }

      // A millisecond after every revocation above, so that only the next one is recorded at or after it.
      const later = Date.now() + 1
      while (Date.now() < later) await new Promise(resolve => setTimeout(resolve, 1))
      await store.createRefreshFamily(newFamily(alice.id, 'f4', { clientId: 'web2' }), newToken('t4', 1000, 5000))
      await store.createClient(newClient('web2'))
      await store.removeClient('web2')
      const removedClient = await store.revocationsSince(later)
      t.strictSame(removedClient.map(({ kind, id }) => `${kind}:${id}`), ['refresh_family:f4'], 'removing a client revokes its families')
    })

    t.test('prune removes expired revocations, refresh tokens and families, and keeps live ones', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      await store.revokeAccessToken('past', 1000, 500)
      await store.revokeAccessToken('now', 2000, 500)
      await store.revokeAccessToken('live', 2001, 500)
      await store.createRefreshFamily(newFamily(alice.id, 'ended', { expiresAt: 2000 }), newToken('ended-1', 1000, 2000))
      await store.createRefreshFamily(newFamily(alice.id, 'live'), newToken('live-1', 1000, 2000))
      await store.rotateRefreshToken('live-1', newToken('live-2', 1500, 5000), 1500)
      await store.createRefreshFamily(newFamily(alice.id, 'revoked'), newToken('revoked-1', 1000, 5000))
      await store.revokeRefreshFamily('revoked', 1100)

      await store.prune(2000)
      const revokedTokens = (await store.revocationsSince(0)).filter(revocation => revocation.kind === 'access_token')
      t.strictSame(revokedTokens.map(revocation => revocation.id), ['live'], 'only the revocation of a live token stays')
      t.equal(await store.findRefreshToken('ended-1'), null)
      t.equal(await store.findRefreshToken('live-1'), null, 'an expired token goes though its family lives on')
      t.strictSame(await store.findRefreshToken('live-2'), {
        token: { hash: 'live-2', familyId: 'live', createdAt: 1500, expiresAt: 5000, spentAt: null },
        family: { ...newFamily(alice.id, 'live'), revokedAt: null }
      })
      t.equal((await store.findRefreshToken('revoked-1'))?.family.revokedAt, 1100, 'a revoked family stays until it ends')
      await t.resolves(store.createRefreshFamily(newFamily(alice.id, 'ended'), newToken('ended-2', 2000, 6000)),
        'the ended family is gone')
      await t.rejects(store.createRefreshFamily(newFamily(alice.id, 'live'), newToken('live-3', 2000, 6000)),
        'the live family is not')
      await t.resolves(store.prune(2000), 'pruning again finds nothing')
    })

    t.test('prune forgets the changes of users made before its time', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      await store.updateUser(alice.id, { fullName: 'Alice' })
      const changedAt = (await store.revocationsSince(0))[0]?.at ?? 0
      await store.prune(changedAt - 1)
      t.equal((await store.revocationsSince(0)).length, 1, 'a change at or after the time stays')
      await store.prune(changedAt)
      t.strictSame(await store.revocationsSince(0), [])
    })

    t.test('creates, finds, lists and removes clients', async t => {
      const store = await open(t)
      const web = newClient('web', { scopes: ['read', 'write'] })
      const cli = newClient('cli', { secretHash: null, scopes: [] })
      // Code point order, as for usernames: uppercase before lowercase, 'é' after both.
      const others = [newClient('é'), newClient('Admin')]
      for (const client of [web, cli, ...others]) await store.createClient(client)

      t.strictSame(await store.findClient('web'), web)
      t.strictSame(await store.findClient('cli'), cli, 'a public client has no secret')
      t.equal(await store.findClient('unknown'), null)
      t.equal(await store.findClient('WEB'), null, 'ids are compared exactly')
      t.strictSame((await store.listClients()).map(client => client.id), ['Admin', 'cli', 'web', 'é'])

      t.equal(await store.removeClient('cli'), true)
      t.equal(await store.removeClient('cli'), false)
      t.equal(await store.findClient('cli'), null)
      t.strictSame(await store.listClients(), [others[1], web, others[0]])
    })

    t.test('replaces a client\'s secret, and says whether the client exists', async t => {
      const store = await open(t)
      await store.createClient(newClient('web'))
      t.equal(await store.setClientSecret('web', 'sha256:new'), true)
      t.strictSame(await store.findClient('web'), newClient('web', { secretHash: 'sha256:new' }))
      t.equal(await store.setClientSecret('unknown', 'sha256:new'), false)
      t.equal(await store.findClient('unknown'), null, 'no client is created')
    })

    t.test('refuses a taken client id with DuplicateClientError', async t => {
      const store = await open(t)
      await store.createClient(newClient('web'))
      const err = await store.createClient(newClient('web', { secretHash: null })).then(
        () => { throw new Error('createClient resolved') },
        (err: unknown) => err
      )
      t.ok(err instanceof DuplicateClientError, 'is a DuplicateClientError')
      t.equal((err as DuplicateClientError).code, 'DUPLICATE_CLIENT')
      t.strictSame(await store.listClients(), [newClient('web')], 'the first client is untouched')
    })

    t.test('hands out copies of families, tokens and clients', async t => {
      const store = await open(t)
      const alice = await store.createUser(newUser('alice'))
      const family = newFamily(alice.id, 'f1')
      const client = newClient('web')
      await store.createRefreshFamily(family, newToken('t1', 1000, 5000))
      await store.createClient(client)
      family.scopes.push('admin')
      client.scopes.push('admin')

      const found = await store.findRefreshToken('t1')
      const rotated = await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000)
      const reused = await store.rotateRefreshToken('t1', newToken('t3', 3000, 7000), 3000)
      const families = [found?.family, ...[rotated, reused].map(result => result.outcome === 'invalid' ? undefined : result.family)]
      for (const returned of families) {
        returned?.scopes.push('admin')
        if (returned !== undefined) returned.revokedAt = 1
      }
      if (found !== null) found.token.spentAt = null
      for (const returned of [await store.findClient('web'), ...await store.listClients()]) {
        returned?.scopes.push('admin')
        if (returned !== null) returned.secretHash = null
      }

      t.strictSame(await store.findRefreshToken('t1'), {
        token: { hash: 't1', familyId: 'f1', createdAt: 1000, expiresAt: 5000, spentAt: 2000 },
        family: { ...newFamily(alice.id, 'f1'), revokedAt: null }
      })
      t.strictSame(await store.findClient('web'), newClient('web'))
    })

    t.test('ping resolves while open and rejects once closed', async t => {
      const store = await open(t)
      await t.resolves(store.ping())
      await store.close()
      await t.rejects(store.ping())
    })
  })
}
