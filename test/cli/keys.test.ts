import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { openStore, type SigningKey, type Store } from '../../store/index.js'
import { KeyEncryption, isEncrypted } from '../../tokens/key-encryption.js'
import { generateSigningKey } from '../../tokens/keys.js'
import { findTraces, keyTraces } from '../key-traces.js'
import { cli } from '../integration/helper.js'

// `oauth2-password keys rotate` and `keys encrypt` with SIGNING_KEY_SECRET, run as the compiled
// binary (dist/, rebuilt by test/before.ts when a source is newer).

const SECRET = 'Jq3vY9cT1xW8sK2mP5rN7bF4hL6dG0aZ'
const OTHER_SECRET = 'another secret of at least 32 characters'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-keys-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** Every stdout and stderr, for the final check that no secret was ever written. */
const outputs: string[] = []

let databases = 0

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/** A fresh database, and a `run` that points the CLI at it with `env`. */
function setup (t: Test): { database: string, run: (args: string[], env?: Record<string, string>) => Promise<Result> } {
  const database = path.join(tmp, `db-${++databases}`, 'auth.db')
  return {
    database,
    run: async (args, env = {}) => {
      const result = await cli(t, { DATABASE_URL: `sqlite:${database}`, ...env }, args).done
      outputs.push(result.stdout, result.stderr)
      return result
    }
  }
}

async function listKeys (database: string): Promise<SigningKey[]> {
  const store = await openStore(`sqlite:${database}`)
  try {
    return await store.listSigningKeys()
  } finally {
    await store.close()
  }
}

t.test('keys encrypt encrypts the keys stored in clear, once, and refuses without the secret or with another', async t => {
  const { database, run } = setup(t)
  for (const alg of ['ES256', 'EdDSA']) t.equal((await run(['keys', 'rotate'], { JWT_ALGORITHM: alg })).code, 0)
  const inClear = await listKeys(database)

  t.same(await run(['keys', 'encrypt']), { code: 2, stdout: '', stderr: 'SIGNING_KEY_SECRET must be set to the secret to encrypt the signing keys with\n' })
  const short = await run(['keys', 'encrypt'], { SIGNING_KEY_SECRET: 'too short' })
  t.equal(short.code, 2)
  t.match(short.stderr, /^Invalid configuration: SIGNING_KEY_SECRET must be at least 32 characters/)
  t.strictSame(await listKeys(database), inClear, 'nothing changed')

  t.same(await run(['keys', 'encrypt'], { SIGNING_KEY_SECRET: SECRET }), { code: 0, stdout: 'encrypted 2 signing key(s); 0 already were\n', stderr: '' })
  const stored = await listKeys(database)
  t.ok(stored.every(isEncrypted), 'every key is encrypted')
  t.strictSame(stored.map(key => new KeyEncryption(SECRET).open(key)), inClear, 'and decrypts to what it was')
  for (const key of inClear) t.strictSame(findTraces(database, keyTraces(key.privateKey)), [], `nothing of ${key.alg} key in clear is left in the files`)

  t.same(await run(['keys', 'encrypt'], { SIGNING_KEY_SECRET: SECRET }), { code: 0, stdout: 'encrypted 0 signing key(s); 2 already were\n', stderr: '' })
  t.strictSame(await listKeys(database), stored, 'a second run changes nothing')

  const other = await run(['keys', 'encrypt'], { SIGNING_KEY_SECRET: OTHER_SECRET })
  t.equal(other.code, 2)
  t.equal(other.stdout, '')
  t.match(other.stderr, /^signing key \S+ does not decrypt with this SIGNING_KEY_SECRET/)
  t.strictSame(await listKeys(database), stored, 'nothing changed')
  t.equal((await run(['keys', 'encrypt', 'extra'], { SIGNING_KEY_SECRET: SECRET })).code, 2)
})

t.test('keys rotate with SIGNING_KEY_SECRET stores the new key encrypted, and refuses keys the secret cannot decrypt', async t => {
  const { database, run } = setup(t)
  t.equal((await run(['keys', 'rotate'])).code, 0)
  const rotated = await run(['keys', 'rotate'], { SIGNING_KEY_SECRET: SECRET })
  t.equal(rotated.code, 0, rotated.stderr)
  const [newest, older] = await listKeys(database)
  t.ok(newest !== undefined && isEncrypted(newest), 'the new key is encrypted')
  t.ok(older !== undefined && !isEncrypted(older), 'the one before is left as it was, for keys encrypt')

  for (const { env, message } of [
    { env: {}, message: /^signing key \S+ is encrypted in the store, and SIGNING_KEY_SECRET/ },
    { env: { SIGNING_KEY_SECRET: OTHER_SECRET }, message: /^signing key \S+ does not decrypt with this SIGNING_KEY_SECRET/ }
  ]) {
    const refused = await run(['keys', 'rotate'], env)
    t.equal(refused.code, 2)
    t.equal(refused.stdout, '')
    t.match(refused.stderr, message)
    t.equal((await listKeys(database)).length, 2, 'no key was added')
  }
})

t.test('a key keys rotate removes leaves nothing of itself in the database, -wal or -shm', async t => {
  const { database, run } = setup(t)
  // Open all along, as a running server's store would be: the log stays while it is.
  const store: Store = await openStore(`sqlite:${database}`)
  t.teardown(() => store.close())
  const hour = 3_600_000
  // Its successor took over an hour ago: every token it signed has expired, and the next rotation removes it.
  const expired = generateSigningKey('ES256', Date.now() - 2 * hour)
  const successor = generateSigningKey('ES256', Date.now() - hour)
  await store.addSigningKey(expired)
  await store.addSigningKey(successor)
  t.ok(findTraces(database, keyTraces(expired.privateKey)).length > 0, 'the key is in the files before: the scan finds it')

  const rotated = await run(['keys', 'rotate'])
  t.equal(rotated.code, 0, rotated.stderr)
  t.match(rotated.stdout, 'removed 1 key(s) whose tokens have all expired')
  t.notOk((await store.listSigningKeys()).some(key => key.kid === expired.kid), 'the key is removed')
  t.strictSame(findTraces(database, keyTraces(expired.privateKey)), [], 'and nothing of it is left')
  t.ok(findTraces(database, keyTraces(successor.privateKey)).length > 0, 'its successor is still found')
})

t.test('--help shows keys encrypt and SIGNING_KEY_SECRET', async t => {
  const { run } = setup(t)
  const help = await run(['keys', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, 'oauth2-password keys encrypt')
  t.match((await run(['--help'])).stdout, 'SIGNING_KEY_SECRET')
})

// Last, so that it sees the output of every run above.
t.test('no secret ever appears on stdout or stderr', async t => {
  t.ok(outputs.length > 20, 'the runs above were recorded')
  for (const secret of [SECRET, OTHER_SECRET]) t.notOk(outputs.some(output => output.includes(secret)))
})
