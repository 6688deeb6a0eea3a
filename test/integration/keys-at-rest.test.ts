import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { SigningKey } from '../../store/index.js'
import { KeyEncryption, isEncrypted } from '../../tokens/key-encryption.js'
import { addUser, build, login, me } from '../helper.js'
import { PRIVATE_KEY_LABEL, databaseFiles, findTraces, keyTraces, type Trace } from '../key-traces.js'
import { POSTGRES_URL, cli, freshSchema, startServer, withPostgres } from './helper.js'

// Private signing keys at rest: with SIGNING_KEY_SECRET the store never holds one in clear, a store
// in clear is encrypted in place by `keys encrypt`, and a server without the right secret does not start.

const SECRET = 'vK8pQ2wX5zR9tY3nB6mC1jH4gF7dS0aL'
const OTHER_SECRET = 'not the secret the keys were encrypted with'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keys-at-rest-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

let databases = 0
const newDatabase = (): string => path.join(tmp, `db-${++databases}`, 'auth.db')

const UNENCRYPTED = 'private signing keys are stored unencrypted: set SIGNING_KEY_SECRET (the plugin\'s signingKeySecret option) to encrypt them'

/** The messages of the warn lines about how the keys are stored. */
function keyWarnings (logs: Array<Record<string, unknown>>): unknown[] {
  return logs.filter(line => line.level === 40 && /signing key/.test(String(line.msg))).map(line => line.msg)
}

/** Everything of `keys` (decrypted with the secret) and of any PEM private key that could show in a file. */
function everyTrace (keys: readonly SigningKey[]): Trace[] {
  const encryption = new KeyEncryption(SECRET)
  return [PRIVATE_KEY_LABEL, ...keys.flatMap(key => keyTraces(encryption.open(key).privateKey))]
}

async function runCli (t: Test, env: Record<string, string>, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await cli(t, env, args).done
}

t.test('SQLite with SIGNING_KEY_SECRET: no private key in clear in the database, -wal or -shm, ever', async t => {
  const database = newDatabase()
  const env = { DATABASE_URL: `sqlite:${database}`, SIGNING_KEY_SECRET: SECRET }
  const { app, logs } = await build(t, env)
  t.strictSame(keyWarnings(logs()), [], 'nothing to warn about')
  await addUser(app.authStore, 'alice')
  const { access_token: accessToken } = await login(app, 'alice')

  const rotated = await runCli(t, env, ['keys', 'rotate'])
  t.equal(rotated.code, 0, rotated.stderr)
  const keys = await app.authStore.listSigningKeys()
  t.equal(keys.length, 2)
  t.ok(keys.every(isEncrypted), 'the first key and the rotated one are stored encrypted')

  t.strictSame(databaseFiles(database).map(file => path.basename(file)), ['auth.db', 'auth.db-wal', 'auth.db-shm'], 'all three files are scanned')
  t.strictSame(findTraces(database, everyTrace(keys)), [], 'while the server runs')
  t.equal((await me(app, accessToken)).statusCode, 200, 'the encrypted key verifies what it signed')
  await app.close()
  t.strictSame(findTraces(database, everyTrace(keys)), [], 'once it is closed')
})

t.test('keys encrypt on a store in clear: a server with the secret then verifies the tokens from before, one without it does not start', async t => {
  const database = newDatabase()
  const inClear = { DATABASE_URL: `sqlite:${database}` }
  const before = await build(t, inClear)
  t.strictSame(keyWarnings(before.logs()), [UNENCRYPTED], 'the start-up log says once that the keys are in clear')
  await addUser(before.app.authStore, 'alice')
  const { access_token: accessToken } = await login(before.app, 'alice')
  await before.app.close()
  t.ok(findTraces(database, [PRIVATE_KEY_LABEL]).length > 0, 'the key is in the file in clear')

  const encrypted = await runCli(t, { ...inClear, SIGNING_KEY_SECRET: SECRET }, ['keys', 'encrypt'])
  t.same(encrypted, { code: 0, stdout: 'encrypted 1 signing key(s); 0 already were\n', stderr: '' })

  const after = await build(t, { ...inClear, SIGNING_KEY_SECRET: SECRET })
  t.strictSame(keyWarnings(after.logs()), [])
  t.equal((await me(after.app, accessToken)).statusCode, 200, 'a token signed before the encryption verifies')
  t.strictSame(findTraces(database, everyTrace(await after.app.authStore.listSigningKeys())), [])
  await after.app.close()

  const refusals = [
    { name: 'no secret', env: inClear, message: /^signing key \S+ is encrypted in the store, and SIGNING_KEY_SECRET \(the plugin's signingKeySecret option\) is not set/ },
    { name: 'another secret', env: { ...inClear, SIGNING_KEY_SECRET: OTHER_SECRET }, message: /^signing key \S+ does not decrypt with this SIGNING_KEY_SECRET/ }
  ]
  for (const { name, env, message } of refusals) {
    t.test(`${name}: ready() fails with the reason`, async t => {
      const error = await build(t, env).then(() => null, (error: unknown) => error)
      t.type(error, Error)
      t.match((error as Error).message, message)
    })
    t.test(`${name}: the server process exits 1 with the reason on one line, and nothing secret`, async t => {
      const error = await startServer(t, env).then(() => null, (error: unknown) => error)
      t.type(error, Error)
      const [, output = ''] = /^server exited with 1: ([^]*)$/.exec((error as Error).message) ?? []
      t.match(output, message)
      t.equal(output.trim().split('\n').length, 1, output)
      t.notMatch(output, SECRET)
      t.notMatch(output, OTHER_SECRET)
      t.notMatch(output, 'PRIVATE KEY')
    })
  }
})

t.test('a server with the secret over keys still in clear uses them, and says once how to encrypt them', async t => {
  const database = newDatabase()
  const rotated = await runCli(t, { DATABASE_URL: `sqlite:${database}` }, ['keys', 'rotate'])
  t.equal(rotated.code, 0, rotated.stderr)
  const { app, logs } = await build(t, { DATABASE_URL: `sqlite:${database}`, SIGNING_KEY_SECRET: SECRET })
  t.strictSame(keyWarnings(logs()), ['1 private signing key(s) in the store are not encrypted: run `oauth2-password keys encrypt` with SIGNING_KEY_SECRET set'])
  await addUser(app.authStore, 'alice')
  t.equal((await me(app, (await login(app, 'alice')).access_token)).statusCode, 200)
})

t.test('a memory store keeps nothing at rest: no warning', async t => {
  const { logs } = await build(t)
  t.strictSame(keyWarnings(logs()), [])
})

t.test('PostgreSQL: keys encrypt, then the secret is needed', { skip: POSTGRES_URL === '' ? 'TEST_POSTGRES_URL is not set' : false }, async t => {
  const { schema, url } = freshSchema(t, 'keys_at_rest_')
  const privateKeys = async (): Promise<string[]> => await withPostgres(schema, async client =>
    (await client.query<{ private_key: string }>('SELECT private_key FROM signing_keys ORDER BY created_at')).rows.map(row => row.private_key))

  const before = await build(t, { DATABASE_URL: url })
  await addUser(before.app.authStore, 'alice')
  const { access_token: accessToken } = await login(before.app, 'alice')
  await before.app.close()
  t.match(await privateKeys(), [/^-----BEGIN PRIVATE KEY-----/], 'the key is in clear')

  const encrypted = await runCli(t, { DATABASE_URL: url, SIGNING_KEY_SECRET: SECRET }, ['keys', 'encrypt'])
  t.same(encrypted, { code: 0, stdout: 'encrypted 1 signing key(s); 0 already were\n', stderr: '' })
  const rotated = await runCli(t, { DATABASE_URL: url, SIGNING_KEY_SECRET: SECRET }, ['keys', 'rotate'])
  t.equal(rotated.code, 0, rotated.stderr)
  const stored = await privateKeys()
  t.equal(stored.length, 2)
  for (const privateKey of stored) {
    t.match(privateKey, /^\$aes-256-gcm\$v=1\$/, 'the old key encrypted in place, the new one encrypted')
    t.notMatch(privateKey, 'PRIVATE KEY')
  }

  const after = await build(t, { DATABASE_URL: url, SIGNING_KEY_SECRET: SECRET })
  t.equal((await me(after.app, accessToken)).statusCode, 200, 'a token signed before the encryption verifies')
  await after.app.close()

  const wrong = await build(t, { DATABASE_URL: url, SIGNING_KEY_SECRET: OTHER_SECRET }).then(() => null, (error: unknown) => error)
  t.match((wrong as Error).message, /^signing key \S+ does not decrypt with this SIGNING_KEY_SECRET/)
  const none = await build(t, { DATABASE_URL: url }).then(() => null, (error: unknown) => error)
  t.match((none as Error).message, /^signing key \S+ is encrypted in the store/)
})

t.test('PostgreSQL with the secret from the first start: the first key is stored encrypted', { skip: POSTGRES_URL === '' ? 'TEST_POSTGRES_URL is not set' : false }, async t => {
  const { schema, url } = freshSchema(t, 'keys_at_rest_')
  const { app } = await build(t, { DATABASE_URL: url, SIGNING_KEY_SECRET: SECRET })
  await addUser(app.authStore, 'alice')
  t.equal((await me(app, (await login(app, 'alice')).access_token)).statusCode, 200)
  const stored = await withPostgres(schema, async client => (await client.query<{ private_key: string }>('SELECT private_key FROM signing_keys')).rows)
  t.match(stored, [{ private_key: /^\$aes-256-gcm\$v=1\$/ }])
  t.equal(stored.length, 1)
})
