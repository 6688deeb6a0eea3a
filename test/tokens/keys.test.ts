import t from 'tap'
import { KEY_RETIREMENT_MARGIN, KeyRing, generateSigningKey, liveKeys, publicJwk } from '../../tokens/keys.js'
import type { SigningKey } from '../../store/types.js'

const TTL = 900
const NOW = 1_800_000_000_000
const SECOND = 1000

/** A key created at `createdAt`; generating one real key and re-dating it keeps the test fast. */
const base = generateSigningKey('ES256', 0)
const at = (createdAt: number, kid: string): SigningKey => ({ ...base, kid, createdAt })

t.test('liveKeys', async t => {
  const retired = (TTL + KEY_RETIREMENT_MARGIN) * SECOND

  const cases: Array<{ name: string, keys: SigningKey[], live: string[] }> = [
    { name: 'a lone key is kept however old', keys: [at(0, 'only')], live: ['only'] },
    {
      name: 'a key retired longer than the TTL plus the margin ago is dropped',
      keys: [at(NOW - retired - 1, 'newest'), at(NOW - retired - 10 * SECOND, 'old')],
      live: ['newest']
    },
    {
      name: 'a key retired exactly the TTL plus the margin ago is dropped',
      keys: [at(NOW - retired, 'newest'), at(NOW - 2 * retired, 'old')],
      live: ['newest']
    },
    {
      name: 'a key retired less long ago is kept',
      keys: [at(NOW - retired + SECOND, 'newest'), at(NOW - 2 * retired, 'old')],
      live: ['newest', 'old']
    },
    {
      name: 'a key retired longer than the TTL but within the margin is kept',
      keys: [at(NOW - (TTL + 1) * SECOND, 'newest'), at(NOW - 2 * retired, 'old')],
      live: ['newest', 'old']
    },
    {
      name: 'a key retired just now is kept',
      keys: [at(NOW, 'newest'), at(NOW - 2 * retired, 'old')],
      live: ['newest', 'old']
    },
    {
      name: 'each key is judged by its own successor',
      keys: [
        at(NOW - 10 * SECOND, 'newest'),
        at(NOW - retired - SECOND, 'middle'),
        at(NOW - 3 * retired, 'oldest')
      ],
      live: ['newest', 'middle']
    },
    {
      name: 'the newest is kept even when every key is old',
      keys: [at(NOW - 10 * retired, 'newest'), at(NOW - 20 * retired, 'old'), at(NOW - 30 * retired, 'older')],
      live: ['newest']
    },
    { name: 'no keys, no live keys', keys: [], live: [] }
  ]
  for (const { name, keys, live } of cases) {
    t.test(name, async t => {
      t.strictSame(liveKeys(keys, NOW, TTL).map(key => key.kid), live)
    })
  }

  t.test('the access token TTL counts', async t => {
    const keys = [at(NOW - 100 * SECOND, 'newest'), at(NOW - 200 * SECOND, 'old')]
    t.strictSame(liveKeys(keys, NOW, 900).map(key => key.kid), ['newest', 'old'])
    t.strictSame(liveKeys(keys, NOW, 30).map(key => key.kid), ['newest'], '30 s + margin < 100 s')
  })

  t.test('the input is not changed', async t => {
    const keys = [at(NOW - 10 * retired, 'newest'), at(NOW - 20 * retired, 'old')]
    liveKeys(keys, NOW, TTL)
    t.equal(keys.length, 2)
  })
})

t.test('KeyRing', async t => {
  const newest = generateSigningKey('EdDSA')
  const older = generateSigningKey('ES256')
  const ring = new KeyRing([newest, older])
  t.equal(ring.signing.kid, newest.kid, 'the newest signs')
  t.equal(ring.find(older.kid)?.kid, older.kid)
  t.equal(ring.find('nope'), undefined)
  t.equal(ring.find(42), undefined)
  t.strictSame(ring.jwks.keys.map(key => key.kid), [newest.kid, older.kid])
  t.throws(() => new KeyRing([]), /at least one/)
})

t.test('publicJwk has no private parts', async t => {
  for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
    const jwk = publicJwk(generateSigningKey(alg))
    t.match(jwk, { alg, use: 'sig', kid: String, kty: String }, alg)
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) t.notOk(member in jwk, `${alg}: no "${member}"`)
  }
})
