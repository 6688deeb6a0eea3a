import t from 'tap'
import { hashClientSecret } from '../../clients/secrets.js'
import { assertNoSecretPrinted, inspect, setup } from './helper.js'

// `oauth2-password client` and `keys rotate`, run as the compiled binary (test/cli/helper.ts).

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
t.test('no password ever appears on stdout or stderr', async t => {
  assertNoSecretPrinted(t, { runs: 13, secrets: [SECRET] })
})
