import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { openStore, type Store, type User } from '../../store/index.js'
import { hashClientSecret } from '../../tokens/client-secrets.js'
import { TEST_ARGON2, cheapHasher, freePort } from '../helper.js'

// The compiled binary, run as an administrator would run it: these tests need `npm run build` first.
const BIN = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url))

const PASSWORD = 'correct horse battery staple'
const NEW_PASSWORD = 'a brand new passphrase, please'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

// About eighty runs of the binary, each a process that hashes: on a loaded 2-core machine this
// file has taken over a hundred seconds, close to tap's default for a file.
t.setTimeout(6 * 60_000)

const hasher = cheapHasher()

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

interface RunOptions {
  stdin?: string
  env?: Record<string, string>
}

/** Every stdout and stderr of every run, for the final check that no password was ever written. */
const outputs: string[] = []
/** Every password given to the CLI. */
const passwords = new Set<string>()

let databases = 0

/** A fresh database for one test, and a `run` that points the CLI at it. */
function setup (): { database: string, run: (args: string[], options?: RunOptions) => Promise<Result> } {
  const database = path.join(tmp, `db-${++databases}`, 'auth.db')
  return { database, run: (args, options = {}) => cli(database, args, options) }
}

async function cli (database: string, args: string[], options: RunOptions): Promise<Result> {
  if (options.stdin !== undefined) passwords.add(options.stdin.replace(/\r?\n$/, ''))
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: tmp,
    // Only these variables: none of the test runner's loaders, nothing from the developer's shell.
    env: { DATABASE_URL: `sqlite:${database}`, ...TEST_ARGON2, ...options.env }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  // The CLI may exit without reading stdin (a taken username, a usage error): that EPIPE is expected.
  child.stdin.on('error', () => {})
  child.stdin.end(options.stdin ?? '')
  const [code] = await once(child, 'close') as [number | null]
  outputs.push(stdout, stderr)
  return { code, stdout, stderr }
}

async function inspect<T> (database: string, look: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(`sqlite:${database}`)
  try {
    return await look(store)
  } finally {
    await store.close()
  }
}

async function findUser (database: string, username: string): Promise<User | null> {
  return await inspect(database, store => store.findUserByUsername(username))
}

async function addUser (
  run: (args: string[], options?: RunOptions) => Promise<Result>,
  username: string,
  extra: string[] = [],
  password = PASSWORD
): Promise<void> {
  const result = await run(['user', 'add', username, ...extra, '--password-stdin'], { stdin: `${password}\n` })
  if (result.code !== 0) throw new Error(`user add ${username} failed: ${result.code} ${result.stderr}`)
}

t.test('--help prints the usage of every user command', async t => {
  const { run } = setup()
  for (const args of [['--help'], ['-h'], ['user', '--help']]) {
    const result = await run(args)
    t.equal(result.code, 0, args.join(' '))
    t.equal(result.stderr, '')
    for (const command of ['add', 'passwd', 'disable', 'enable', 'remove', 'list', 'verify-email', 'sessions', 'logout']) {
      t.match(result.stdout, `oauth2-password user ${command}`, `${args.join(' ')} shows user ${command}`)
    }
  }
  const add = await run(['user', 'add', '--help'])
  t.equal(add.code, 0)
  t.match(add.stdout, 'oauth2-password user add <username>')
  t.equal(add.stderr, '')
})

t.test('user add creates the user and exits 0', async t => {
  const { database, run } = setup()
  const result = await run(
    ['user', 'add', 'alice', '--scopes', 'me items', '--email', 'alice@example.com', '--full-name', 'Alice Liddell', '--password-stdin'],
    { stdin: `${PASSWORD}\n` }
  )
  t.same(result, { code: 0, stdout: 'created user "alice"\n', stderr: '' })
  const alice = await findUser(database, 'alice')
  t.ok(alice)
  t.same(alice?.scopes, ['me', 'items'])
  t.equal(alice?.email, 'alice@example.com')
  t.equal(alice?.fullName, 'Alice Liddell')
  t.equal(alice?.disabled, false)
  t.ok(await hasher.verify(alice?.passwordHash ?? '', PASSWORD), 'the password from stdin verifies')
  t.notOk(hasher.needsRehash(alice?.passwordHash ?? ''), 'hashed with argon2id and the ARGON2_* of the environment')

  await addUser(run, 'bob')
  const bob = await findUser(database, 'bob')
  t.same(bob?.scopes, [], 'no --scopes grants no scope')
  t.equal(bob?.email, null)
  t.equal(bob?.fullName, null)
})

t.test('user add of a taken username exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  const before = await findUser(database, 'alice')
  for (const name of ['alice', 'ALICE']) {
    const result = await run(['user', 'add', name, '--password-stdin'], { stdin: `${NEW_PASSWORD}\n` })
    t.same(result, { code: 1, stdout: '', stderr: 'user "alice" exists already\n' }, name)
  }
  t.same(await findUser(database, 'alice'), before, 'the existing user is untouched')
})

t.test('a password shorter than PASSWORD_MIN_LENGTH exits 2 and names the minimum', async t => {
  const { database, run } = setup()
  const short = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: 'abcde\n' })
  t.equal(short.code, 2)
  t.equal(short.stdout, '')
  t.match(short.stderr, /at least 15 characters/)
  t.equal(await findUser(database, 'alice'), null, 'no user was created')

  const raised = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: `${PASSWORD}\n`, env: { PASSWORD_MIN_LENGTH: '40' } })
  t.equal(raised.code, 2)
  t.match(raised.stderr, /at least 40 characters/)

  await addUser(run, 'bob')
  const passwd = await run(['user', 'passwd', 'bob', '--password-stdin'], { stdin: 'abcde' })
  t.equal(passwd.code, 2)
  t.match(passwd.stderr, /at least 15 characters/)
  t.ok(await hasher.verify((await findUser(database, 'bob'))?.passwordHash ?? '', PASSWORD), 'the old password still works')
})

t.test('a common password exits 2, says so without repeating it, and changes nothing', async t => {
  const { database, run } = setup()
  const common = '1234567890Qwerty'
  const added = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: `${common}\n` })
  t.equal(added.code, 2)
  t.equal(added.stdout, '')
  t.equal(added.stderr, 'password is on a list of common passwords found in data breaches: choose another\n')
  t.equal(await findUser(database, 'alice'), null, 'no user was created')

  await addUser(run, 'bob')
  const passwd = await run(['user', 'passwd', 'bob', '--password-stdin'], { stdin: common })
  t.equal(passwd.code, 2)
  t.match(passwd.stderr, /list of common passwords/)
  t.ok(await hasher.verify((await findUser(database, 'bob'))?.passwordHash ?? '', PASSWORD), 'the old password still works')
})

t.test('an invalid username exits 2 before the database is touched', async t => {
  const { database, run } = setup()
  for (const name of ['a b', '', 'tab\there', 'x'.repeat(129)]) {
    const result = await run(['user', 'add', name, '--password-stdin'], { stdin: `${PASSWORD}\n` })
    t.equal(result.code, 2, JSON.stringify(name))
    t.equal(result.stdout, '')
    t.match(result.stderr, /^invalid username /)
  }
  const remove = await run(['user', 'remove', 'a b'])
  t.equal(remove.code, 2)
  t.notOk(fs.existsSync(database), 'no database was created')
})

t.test('an invalid scope exits 2', async t => {
  const { database, run } = setup()
  const result = await run(['user', 'add', 'alice', '--scopes', 'me "items"', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.equal(result.code, 2)
  t.match(result.stderr, /invalid scope/)
  t.notOk(fs.existsSync(database))
})

t.test('an unknown command exits 2', async t => {
  const { run } = setup()
  const group = await run(['frob'])
  t.equal(group.code, 2)
  t.match(group.stderr, /unknown command "frob"/)
  const command = await run(['user', 'frob', 'alice'])
  t.equal(command.code, 2)
  t.match(command.stderr, /unknown command "user frob"/)
  t.equal(command.stdout, '')
  const none = await run([])
  t.equal(none.code, 2)
  t.match(none.stderr, /Usage: oauth2-password/)
  const noCommand = await run(['user'])
  t.equal(noCommand.code, 2)
})

t.test('an unknown option exits 2', async t => {
  const { database, run } = setup()
  const add = await run(['user', 'add', 'alice', '--bogus', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.equal(add.code, 2)
  t.match(add.stderr, /--bogus/)
  t.match(add.stderr, /Usage: oauth2-password user add <username>/)
  const list = await run(['user', 'list', '--verbose'])
  t.equal(list.code, 2)
  t.match(list.stderr, /--verbose/)
  const remove = await run(['user', 'remove', 'alice', '--json'])
  t.equal(remove.code, 2, 'an option of another command is unknown too')
  t.notOk(fs.existsSync(database))
})

t.test('a missing or extra argument exits 2', async t => {
  const { run } = setup()
  for (const command of ['add', 'passwd', 'disable', 'enable', 'remove']) {
    const result = await run(['user', command])
    t.equal(result.code, 2, `user ${command}`)
    t.match(result.stderr, /missing <username>/)
  }
  const extra = await run(['user', 'remove', 'alice', 'bob'])
  t.equal(extra.code, 2)
  t.match(extra.stderr, /unexpected argument "bob"/)
  const list = await run(['user', 'list', 'alice'])
  t.equal(list.code, 2)
})

t.test('user passwd sets the password and revokes earlier tokens; an unknown user exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  const before = await findUser(database, 'alice')
  const result = await run(['user', 'passwd', 'Alice', '--password-stdin'], { stdin: `${NEW_PASSWORD}\n` })
  t.same(result, { code: 0, stdout: 'changed the password of user "alice"\n', stderr: '' })
  const after = await findUser(database, 'alice')
  t.ok(await hasher.verify(after?.passwordHash ?? '', NEW_PASSWORD), 'the new password verifies')
  t.notOk(await hasher.verify(after?.passwordHash ?? '', PASSWORD), 'the old password does not')
  t.ok((after?.tokenVersion ?? 0) > (before?.tokenVersion ?? 0), 'tokenVersion was raised')
  t.equal(after?.id, before?.id)

  const missing = await run(['user', 'passwd', 'bob', '--password-stdin'], { stdin: `${NEW_PASSWORD}\n` })
  t.same(missing, { code: 1, stdout: '', stderr: 'user "bob" not found\n' })
})

t.test('user disable and enable; an unknown user exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  const before = await findUser(database, 'alice')

  t.same(await run(['user', 'disable', 'alice']), { code: 0, stdout: 'disabled user "alice"\n', stderr: '' })
  const disabled = await findUser(database, 'alice')
  t.equal(disabled?.disabled, true)
  t.ok((disabled?.tokenVersion ?? 0) > (before?.tokenVersion ?? 0), 'disabling raised tokenVersion')

  t.same(await run(['user', 'enable', 'ALICE']), { code: 0, stdout: 'enabled user "alice"\n', stderr: '' })
  const enabled = await findUser(database, 'alice')
  t.equal(enabled?.disabled, false)
  t.equal(enabled?.tokenVersion, disabled?.tokenVersion, 'enabling revives no token')

  t.same(await run(['user', 'disable', 'bob']), { code: 1, stdout: '', stderr: 'user "bob" not found\n' })
  t.same(await run(['user', 'enable', 'bob']), { code: 1, stdout: '', stderr: 'user "bob" not found\n' })
})

t.test('user remove; removing again exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  await addUser(run, 'bob')
  t.same(await run(['user', 'remove', 'alice']), { code: 0, stdout: 'removed user "alice"\n', stderr: '' })
  t.equal(await findUser(database, 'alice'), null)
  t.ok(await findUser(database, 'bob'), 'other users stay')
  t.same(await run(['user', 'remove', 'alice']), { code: 1, stdout: '', stderr: 'user "alice" not found\n' })
})

t.test('user list prints a table, and --json an array, never a password hash', async t => {
  const { database, run } = setup()
  t.same(JSON.parse((await run(['user', 'list', '--json'])).stdout), [], 'no users: an empty array')

  await addUser(run, 'alice', ['--scopes', 'me items', '--email', 'alice@example.com', '--full-name', 'Alice Liddell'])
  await addUser(run, 'bob')
  t.equal((await run(['user', 'disable', 'bob'])).code, 0)
  const stored = await inspect(database, store => store.listUsers())

  const table = await run(['user', 'list'])
  t.equal(table.code, 0)
  t.equal(table.stderr, '')
  const lines = table.stdout.trimEnd().split('\n')
  t.equal(lines.length, 3, 'a header and one line per user')
  t.match(lines[0], /USERNAME\s+SCOPES\s+DISABLED\s+EMAIL\s+FULL NAME\s+CREATED/)
  t.match(lines[1], /^alice\s+me items\s+no\s+alice@example\.com\s+Alice Liddell\s+\d{4}-\d\d-\d\dT/)
  t.match(lines[2], /^bob\s+-\s+yes\s+-\s+-\s+\d{4}-\d\d-\d\dT/)

  const json = await run(['user', 'list', '--json'])
  t.equal(json.code, 0)
  t.equal(json.stderr, '')
  const users = JSON.parse(json.stdout) as Array<Record<string, unknown>>
  t.same(users, stored.map(user => ({
    id: user.id,
    username: user.username,
    email: user.email,
    full_name: user.fullName,
    scopes: user.scopes,
    disabled: user.disabled,
    email_verified: false,
    created_at: new Date(user.createdAt).toISOString()
  })))
  for (const user of users) {
    t.same(Object.keys(user).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'full_name', 'id', 'scopes', 'username'])
  }
  t.equal(users[0]?.username, 'alice')
  t.equal(users[1]?.disabled, true)

  for (const output of [table.stdout, json.stdout]) {
    t.notMatch(output, /passwordHash|password_hash|\$argon2/i, 'no password hash')
  }
})

t.test('usernames are canonicalised before anything, and printed canonical', async t => {
  const { database, run } = setup()
  const add = await run(['user', 'add', 'Ｊｏｈｎ', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.same(add, { code: 0, stdout: 'created user "john"\n', stderr: '' })
  t.ok(await findUser(database, 'john'))
  const again = await run(['user', 'add', 'JOHN', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.same(again, { code: 1, stdout: '', stderr: 'user "john" exists already\n' })
  t.same(await run(['user', 'remove', 'john']), { code: 0, stdout: 'removed user "john"\n', stderr: '' })
  t.equal(await findUser(database, 'john'), null)
})

t.test('a password from stdin is kept exactly, less one final line break', async t => {
  const { database, run } = setup()
  const cases: Array<{ name: string, stdin: string, password: string, not: string }> = [
    { name: 'spaces', stdin: '   spaces around it, kept   \n', password: '   spaces around it, kept   ', not: 'spaces around it, kept' },
    { name: 'no-newline', stdin: '\tno line break at all\t', password: '\tno line break at all\t', not: 'no line break at all' },
    { name: 'crlf', stdin: 'a windows line break\r\n', password: 'a windows line break', not: 'a windows line break\r' },
    { name: 'two-newlines', stdin: 'two line breaks, one kept\n\n', password: 'two line breaks, one kept\n', not: 'two line breaks, one kept' },
    { name: 'unicode', stdin: 'pässwörd with ümlauts 🔑\n', password: 'pässwörd with ümlauts 🔑', not: 'passwort with umlauts' }
  ]
  for (const { name, stdin, password, not } of cases) {
    const result = await run(['user', 'add', name, '--password-stdin'], { stdin })
    t.equal(result.code, 0, `${name}: ${result.stderr}`)
    passwords.add(password)
    const hash = (await findUser(database, name))?.passwordHash ?? ''
    t.ok(await hasher.verify(hash, password), `${name}: the exact password verifies`)
    t.notOk(await hasher.verify(hash, not), `${name}: an altered one does not`)
  }
  const long = 'x'.repeat(1024)
  t.equal((await run(['user', 'add', 'long', '--password-stdin'], { stdin: long })).code, 0, '1024 characters are accepted')
  t.ok(await hasher.verify((await findUser(database, 'long'))?.passwordHash ?? '', long), 'and not truncated')
  t.notOk(await hasher.verify((await findUser(database, 'long'))?.passwordHash ?? '', long.slice(0, -1)))
  const tooLong = await run(['user', 'add', 'toolong', '--password-stdin'], { stdin: 'x'.repeat(1025) })
  t.equal(tooLong.code, 2, '1025 characters are refused, not truncated')
  t.match(tooLong.stderr, /at most 1024 characters/)
})

t.test('without --password-stdin on a stdin that is no terminal, exits 2', async t => {
  const { database, run } = setup()
  for (const args of [['user', 'add', 'alice'], ['user', 'passwd', 'alice']]) {
    const result = await run(args, { stdin: `${PASSWORD}\n` })
    t.equal(result.code, 2, args.join(' '))
    t.equal(result.stdout, '')
    t.match(result.stderr, /--password-stdin/)
  }
  t.notOk(fs.existsSync(database), 'nothing was written')
})

t.test('a bad configuration exits 2 with a message naming the variable', async t => {
  const { database, run } = setup()
  const result = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: `${PASSWORD}\n`, env: { PASSWORD_MIN_LENGTH: '3' } })
  t.equal(result.code, 2)
  t.equal(result.stdout, '')
  t.match(result.stderr, /PASSWORD_MIN_LENGTH/)
  t.notOk(fs.existsSync(database))
  const list = await run(['user', 'list'], { env: { ARGON2_MEMORY_COST: 'lots' } })
  t.equal(list.code, 2)
  t.match(list.stderr, /ARGON2_MEMORY_COST/)
})

t.test('a store that cannot be opened exits 3, neither 1 nor 2', async t => {
  const file = path.join(tmp, 'a-file')
  fs.writeFileSync(file, '')
  const result = await cli(path.join(file, 'auth.db'), ['user', 'list'], {})
  t.equal(result.code, 3)
  t.equal(result.stdout, '')
  t.match(result.stderr, /^oauth2-password: /)
})

t.test('a PostgreSQL that does not answer exits 3, and the message says why', async t => {
  const port = await freePort()
  const result = await cli(path.join(tmp, 'unused.db'), ['user', 'list'], { env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/auth` } })
  t.equal(result.code, 3)
  t.equal(result.stdout, '')
  t.equal(result.stderr, `oauth2-password: The store did not answer; retry shortly: connect ECONNREFUSED 127.0.0.1:${port}\n`)
})

const SECRET = 'cbV1k2Rk3tq8cQ0m7Yt1yJH0f5m5Wq9v2s4Zr8X1aQk='

t.test('client add, list and remove; exit codes 0, 1 and 2', async t => {
  const { database, run } = setup()
  const confidential = await run(['client', 'add', 'resource-server', '--scopes', 'me', '--secret-stdin'], { stdin: `${SECRET}\n` })
  t.equal(confidential.code, 0, confidential.stderr)
  t.equal(confidential.stdout, 'created confidential client "resource-server"\n')
  const stored = await inspect(database, store => store.findClient('resource-server'))
  t.same(stored?.scopes, ['me'])
  t.equal(stored?.secretHash, hashClientSecret(SECRET), 'the secret is kept as its SHA-256 digest, no more')

  const pub = await run(['client', 'add', 'web', '--public'])
  t.equal(pub.code, 0, pub.stderr)
  t.equal((await inspect(database, store => store.findClient('web')))?.secretHash, null)

  t.equal((await run(['client', 'add', 'web', '--public'])).code, 1, 'a taken client id exits 1')
  // A secret that no message contains by chance, so that the final check that it is never printed can fail only for a leak.
  const short = await run(['client', 'add', 'weak', '--secret-stdin'], { stdin: 'q7#tiny\n' })
  t.equal(short.code, 2)
  t.match(short.stderr, 'at least 32 characters')
  t.equal((await run(['client', 'add', 'first-party', '--public'])).code, 2, 'the built-in client is reserved')
  t.equal((await run(['client', 'add', 'x', '--public', '--secret-stdin'])).code, 2, '--public and --secret-stdin exclude each other')
  t.equal((await run(['client', 'add', 'needs-secret'])).code, 2, 'no secret on a stdin that is no terminal')

  const list = await run(['client', 'list', '--json'])
  t.equal(list.code, 0)
  t.same(JSON.parse(list.stdout).map((client: { client_id: string, type: string }) => [client.client_id, client.type]),
    [['resource-server', 'confidential'], ['web', 'public']])
  t.notMatch(list.stdout, '$argon2')

  t.equal((await run(['client', 'remove', 'web'])).code, 0)
  t.equal((await run(['client', 'remove', 'web'])).code, 1, 'removing again exits 1')
})

t.test('keys rotate adds a signing key that becomes the newest, keeping the one before', async t => {
  const { database, run } = setup()
  const first = await run(['keys', 'rotate'])
  t.equal(first.code, 0, first.stderr)
  const second = await run(['keys', 'rotate'], { env: { JWT_ALGORITHM: 'EdDSA' } })
  t.equal(second.code, 0, second.stderr)
  const keys = await inspect(database, store => store.listSigningKeys())
  t.equal(keys.length, 2, 'the previous key stays while its tokens may live')
  t.equal(keys[0]?.alg, 'EdDSA')
  t.match(second.stdout, keys[0]?.kid ?? 'missing')
  t.equal((await run(['keys', 'rotate', 'extra'])).code, 2)
})

// Last, so that it sees the output of every run above.
t.test('user verify-email, user sessions and user logout; an unknown user or login exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice', ['--email', 'alice@example.com'])
  await addUser(run, 'bob')
  t.same(await run(['user', 'verify-email', 'ALICE']), { code: 0, stdout: 'verified the e-mail address of user "alice"\n', stderr: '' })
  t.equal((await findUser(database, 'alice'))?.emailVerified, true)
  t.same(await run(['user', 'verify-email', 'bob']), { code: 1, stdout: '', stderr: 'user "bob" has no e-mail address\n' })
  t.same(await run(['user', 'verify-email', 'carol']), { code: 1, stdout: '', stderr: 'user "carol" not found\n' })

  // Two logins of alice and one of bob, as the token endpoint makes them.
  const now = Date.now()
  await inspect(database, async store => {
    const alice = await store.findUserByUsername('alice')
    const bob = await store.findUserByUsername('bob')
    const family = (id: string, userId: string, createdAt: number) =>
      ({ id, userId, clientId: 'first-party', scopes: [], tokenVersion: 0, createdAt, expiresAt: now + 60_000 })
    await store.createRefreshFamily(family('older', alice?.id ?? '', now - 2000), { hash: 'h1', createdAt: now - 2000, expiresAt: now + 60_000 })
    await store.createRefreshFamily(family('newer', alice?.id ?? '', now - 1000), { hash: 'h2', createdAt: now - 1000, expiresAt: now + 60_000 })
    await store.createRefreshFamily(family('bobs', bob?.id ?? '', now - 1000), { hash: 'h3', createdAt: now - 1000, expiresAt: now + 60_000 })
  })
  const table = await run(['user', 'sessions', 'alice'])
  t.equal(table.code, 0)
  const lines = table.stdout.trimEnd().split('\n')
  t.match(lines[0], /^ID\s+CLIENT\s+CREATED\s+LAST USED$/)
  t.match(lines[1], /^newer\s+first-party\s+\d{4}-/)
  t.match(lines[2], /^older\s+first-party\s+\d{4}-/)
  t.same(JSON.parse((await run(['user', 'sessions', 'alice', '--json'])).stdout).map((session: { id: string }) => session.id), ['newer', 'older'])

  t.same(await run(['user', 'logout', 'alice', '--session', 'bobs']), { code: 1, stdout: '', stderr: 'user "alice" has no live login "bobs"\n' })
  t.same(await run(['user', 'logout', 'alice', '--session', 'older']), { code: 0, stdout: 'ended login "older" of user "alice"\n', stderr: '' })
  t.same(JSON.parse((await run(['user', 'sessions', 'alice', '--json'])).stdout).map((session: { id: string }) => session.id), ['newer'])
  t.same(await run(['user', 'logout', 'alice']), { code: 0, stdout: 'ended every login of user "alice"\n', stderr: '' })
  t.same(JSON.parse((await run(['user', 'sessions', 'alice', '--json'])).stdout), [])
  t.same(JSON.parse((await run(['user', 'sessions', 'bob', '--json'])).stdout).map((session: { id: string }) => session.id), ['bobs'], 'bob is untouched')
  t.equal((await run(['user', 'sessions', 'carol'])).code, 1)
})

t.test('no password ever appears on stdout or stderr', async t => {
  t.ok(outputs.length > 50, 'the runs above were recorded')
  for (const password of [...passwords, SECRET]) {
    t.notOk(outputs.some(output => output.includes(password)), `${JSON.stringify(password.slice(0, 12))}… is never printed`)
  }
})
