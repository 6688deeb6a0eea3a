import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import t from 'tap'
import { DuplicateUsernameError, MemoryStore, SqliteStore, openStore } from '../../store/index.js'
import type { NewUser, SigningKey, Store, User, UserChanges } from '../../store/index.js'
import { migrations } from '../../store/sqlite-migrations.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'store-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

let files = 0
// A directory that does not exist yet, so that every SQLite test also proves the store creates it.
function newFile (): string {
  return path.join(tmp, `db-${++files}`, 'auth.db')
}

interface Teardown {
  teardown (fn: () => unknown): void
}

interface Implementation {
  name: string
  open: () => Promise<Store>
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
  }
]

function newUser (username: string, extra: Partial<NewUser> = {}): NewUser {
  return { username, scopes: ['read'], passwordHash: `$argon2id$v=19$m=65536,t=3,p=4$${username}`, ...extra }
}

function signingKey (kid: string, createdAt: number): SigningKey {
  return {
    kid,
    alg: 'ES256',
    privateKey: `-----BEGIN PRIVATE KEY-----\n${kid}\n-----END PRIVATE KEY-----\n`,
    publicKey: `-----BEGIN PUBLIC KEY-----\n${kid}\n-----END PUBLIC KEY-----\n`,
    createdAt
  }
}

for (const implementation of implementations) {
  t.test(implementation.name, async t => {
    async function open (t: Teardown): Promise<Store> {
      const store = await implementation.open()
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

    t.test('ping resolves while open and rejects once closed', async t => {
      const store = await open(t)
      await t.resolves(store.ping())
      await store.close()
      await t.rejects(store.ping())
    })
  })
}

t.test('SqliteStore on a file', async t => {
  function readMigrations (file: string): Array<{ version: number, name: string, applied_at: number }> {
    const db = new Database(file, { readonly: true })
    try {
      return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as
        Array<{ version: number, name: string, applied_at: number }>
    } finally {
      db.close()
    }
  }

  t.test('numbers its migrations 1, 2, 3… in order', async t => {
    t.strictSame(migrations.map(migration => migration.version), migrations.map((_, index) => index + 1))
  })

  t.test('creates the directory, uses WAL, and applies each migration once across reopenings', async t => {
    const file = newFile()
    await new SqliteStore(file).close()
    t.ok(fs.existsSync(file), 'the file and its directory exist')

    const applied = readMigrations(file)
    t.strictSame(applied.map(({ version, name }) => ({ version, name })), migrations.map(({ version, name }) => ({ version, name })))

    await new SqliteStore(file).close()
    t.strictSame(readMigrations(file), applied, 'reopening applied nothing again')

    const db = new Database(file, { readonly: true })
    t.teardown(() => db.close())
    t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  })

  t.test('keeps users and keys across close and reopen', async t => {
    const file = newFile()
    const store = new SqliteStore(file)
    const alice = await store.createUser(newUser('alice', { email: 'alice@example.com', fullName: 'Alice', scopes: ['read', 'write'] }))
    const updated = await store.updateUser(alice.id, { disabled: true, revokeTokens: true })
    const bob = await store.createUser(newUser('bob'))
    const keys = await store.addFirstSigningKey(signingKey('k1', 1000))
    await store.close()

    const reopened = new SqliteStore(file)
    t.teardown(() => reopened.close())
    t.strictSame(await reopened.listUsers(), [updated, bob])
    t.strictSame(await reopened.findUserByUsername('alice'), updated)
    t.strictSame(await reopened.listSigningKeys(), keys)
    t.equal(await reopened.countUsers(), 2)
  })

  t.test('lists signing keys newest first, ties newest inserted first', async t => {
    const file = newFile()
    const store = new SqliteStore(file)
    t.teardown(() => store.close())
    // The Store interface adds only a first key; others come from outside, as a rotation would add them.
    const db = new Database(file)
    t.teardown(() => db.close())
    const insert = db.prepare('INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at) VALUES (?, ?, ?, ?, ?)')
    for (const key of [signingKey('a', 1000), signingKey('b', 3000), signingKey('c', 2000), signingKey('d', 3000)]) {
      insert.run(key.kid, key.alg, key.privateKey, key.publicKey, key.createdAt)
    }
    const expected = [signingKey('d', 3000), signingKey('b', 3000), signingKey('c', 2000), signingKey('a', 1000)]
    t.strictSame(await store.listSigningKeys(), expected)
    t.strictSame(await store.addFirstSigningKey(signingKey('e', 4000)), expected, 'no key is added to a set')
  })

  t.test('two stores opened one after the other on a new file share one schema and one key', async t => {
    const file = newFile()
    const one = new SqliteStore(file)
    const two = new SqliteStore(file)
    t.teardown(() => one.close())
    t.teardown(() => two.close())

    t.equal(readMigrations(file).length, migrations.length)
    const [fromOne, fromTwo] = await Promise.all([
      one.addFirstSigningKey(signingKey('one', 1000)),
      two.addFirstSigningKey(signingKey('two', 1000))
    ])
    t.strictSame(fromOne, [signingKey('one', 1000)])
    t.strictSame(fromTwo, fromOne)

    const alice = await one.createUser(newUser('alice'))
    t.strictSame(await two.findUserById(alice.id), alice, 'a write through one is read through the other')
    await t.rejects(two.createUser(newUser('alice')), DuplicateUsernameError)
  })

  t.test('processes opening a new file at the same moment apply the schema once and agree on one key', async t => {
    const sqliteModule = pathToFileURL(fileURLToPath(new URL('../../store/sqlite.ts', import.meta.url))).href
    // Each process loads everything first, then opens every file it is sent as soon as it reads
    // its name, so that the processes race on each new file.
    const script = `
      import { createInterface } from 'node:readline'
      const { SqliteStore } = await import(${JSON.stringify(sqliteModule)})
      const kid = process.env.KID
      process.stdout.write('ready\\n')
      for await (const file of createInterface({ input: process.stdin })) {
        const store = new SqliteStore(file)
        const keys = await store.addFirstSigningKey({ kid, alg: 'ES256', privateKey: kid, publicKey: kid, createdAt: 1000 })
        await store.close()
        process.stdout.write(JSON.stringify(keys) + '\\n')
      }
    `
    const kids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']
    const children = kids.map(kid => {
      const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '--eval', script], {
        env: { ...process.env, KID: kid }
      })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
      const exited = new Promise<number | null>(resolve => child.on('exit', resolve))
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
      async function nextLine (): Promise<string> {
        const line = await lines.next()
        if (line.done === true) throw new Error(`process ${kid} exited with ${await exited}: ${stderr}`)
        return line.value
      }
      return { child, exited, nextLine }
    })
    t.teardown(() => { for (const { child } of children) child.kill() })

    for (const { nextLine } of children) t.equal(await nextLine(), 'ready')
    for (let round = 1; round <= 5; round++) {
      const file = newFile()
      for (const { child } of children) child.stdin.write(`${file}\n`)
      const results = await Promise.all(children.map(async ({ nextLine }) => JSON.parse(await nextLine()) as SigningKey[]))

      t.equal(results[0]?.length, 1, `round ${round}: one key`)
      t.ok(kids.includes(results[0]?.[0]?.kid ?? ''), `round ${round}: the key of one of the processes`)
      t.strictSame(results, kids.map(() => results[0]), `round ${round}: every process got that key`)
      t.strictSame(readMigrations(file).map(({ version }) => version), migrations.map(({ version }) => version),
        `round ${round}: each migration applied once`)
    }
    for (const { child } of children) child.stdin.end()
    t.strictSame(await Promise.all(children.map(({ exited }) => exited)), kids.map(() => 0), 'every process exited cleanly')
  })
})

t.test('openStore', async t => {
  t.test("'memory:' opens a MemoryStore", async t => {
    const store = await openStore('memory:')
    t.teardown(() => store.close())
    t.ok(store instanceof MemoryStore)
    await t.resolves(store.ping())
  })

  t.test("'sqlite:<path>' opens a SqliteStore on that file", async t => {
    const file = newFile()
    const store = await openStore(`sqlite:${file}`)
    t.teardown(() => store.close())
    t.ok(store instanceof SqliteStore)
    t.ok(fs.existsSync(file))
  })

  t.test("'sqlite::memory:' opens an in-memory SqliteStore", async t => {
    const cwd = process.cwd()
    process.chdir(tmp)
    t.teardown(() => process.chdir(cwd))
    const store = await openStore('sqlite::memory:')
    t.teardown(() => store.close())
    t.ok(store instanceof SqliteStore)
    await store.createUser(newUser('alice'))
    t.equal(await store.countUsers(), 1)
    t.notOk(fs.existsSync(path.join(tmp, ':memory:')), 'no file named :memory:')
  })

  t.test('rejects other forms, naming the scheme and never the password', async t => {
    const cases: Array<[url: string, scheme: string]> = [
      ['mysql://u:secret@h/db', "'mysql:'"],
      ['postgres://u:secret@h/db', "'postgres:'"],
      ['memory:secret', "'memory:'"]
    ]
    for (const [url, scheme] of cases) {
      const err = await openStore(url).then(() => null, (err: Error) => err)
      t.ok(err instanceof Error, `${scheme} rejects`)
      t.match(err?.message, `scheme ${scheme}`)
      t.match(err?.message, 'sqlite:<path>', 'lists the supported forms')
      t.notMatch(err?.message, 'secret')
    }
    await t.rejects(openStore('./secret.db'), { message: /without a scheme/ })
    await t.rejects(openStore('sqlite:'), { message: /names no file/ })
  })
})
