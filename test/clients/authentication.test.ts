import t, { type Test } from 'tap'
import { MemoryStore } from '../../store/index.js'
import { cheapHasher } from '../argon2.js'
import { MemoryCounter } from '../../limits/counter.js'
import { DEFAULT_LOGIN_LIMITS, LoginLimiter } from '../../limits/login.js'
import { hashClientSecret } from '../../clients/secrets.js'
import { CLIENT_AUTHENTICATION_FAILED, FIRST_PARTY, authenticateClient, clientCredentials, type ClientCredentials } from '../../clients/authentication.js'

const SECRET = 's'.repeat(32)
const CATALOGUE = { me: 'Me', items: 'Items' }
const hasher = cheapHasher()

const basic = (value: string): string => `Basic ${Buffer.from(value).toString('base64')}`

t.test('clientCredentials: from HTTP Basic (RFC 6749 §2.3.1) or from the body, never both; none names first-party', async t => {
  t.strictSame(clientCredentials(undefined, {}), { clientId: FIRST_PARTY, secret: null, method: 'none' })
  t.strictSame(clientCredentials(undefined, { client_id: '', client_secret: '' }), { clientId: FIRST_PARTY, secret: null, method: 'none' }, 'empty parameters count as omitted')
  t.strictSame(clientCredentials(undefined, { client_id: 'app' }), { clientId: 'app', secret: null, method: 'body' })
  t.strictSame(clientCredentials(undefined, { client_id: 'app', client_secret: SECRET }), { clientId: 'app', secret: SECRET, method: 'body' })
  t.strictSame(clientCredentials(basic(`app:${SECRET}`), {}), { clientId: 'app', secret: SECRET, method: 'basic' })
  t.strictSame(clientCredentials(`  basic   ${Buffer.from('my+app%3A1:a%20b+c').toString('base64')} `, {}), { clientId: 'my app:1', secret: 'a b c', method: 'basic' }, 'form-decoded, any case of the scheme')
  t.strictSame(clientCredentials(basic('app:'), {}), { clientId: 'app', secret: '', method: 'basic' })
  t.strictSame(clientCredentials('Basic Og==', { client_id: 'app' }), { clientId: 'app', secret: null, method: 'body' }, 'Swagger UI\'s empty Basic names no client')
  t.strictSame(clientCredentials('Bearer abc', {}), { clientId: FIRST_PARTY, secret: null, method: 'none' }, 'another scheme is no client authentication')

  t.throws(() => clientCredentials(basic(`app:${SECRET}`), { client_id: 'app' }), { name: 'OAuthError', error: 'invalid_request', message: 'Client credentials were sent both in the Authorization header and in the body' })
  t.throws(() => clientCredentials(basic(`app:${SECRET}`), { client_secret: SECRET }), { name: 'OAuthError', error: 'invalid_request' })
  t.throws(() => clientCredentials(undefined, { client_secret: SECRET }), { name: 'OAuthError', error: 'invalid_request', message: 'client_secret was sent without client_id' })
})

t.test('clientCredentials: malformed Basic credentials are invalid_client with a Basic challenge', async t => {
  for (const header of ['Basic', 'Basic a b', 'Basic !!!!', 'Basic YQ=a', basic('no colon'), basic('%zz:secret')]) {
    t.throws(() => clientCredentials(header, {}), {
      name: 'OAuthError', error: 'invalid_client', message: 'The Basic credentials are malformed', statusCode: 401, headers: { 'www-authenticate': /^Basic / }
    }, header)
  }
})

async function setup (t: Test, limits: { address?: number } = {}) {
  const store = new MemoryStore()
  const failures = new MemoryCounter()
  const trust = new MemoryCounter()
  t.teardown(async () => {
    await failures.close()
    await trust.close()
    await store.close()
  })
  const limiter = new LoginLimiter(failures, trust, { ...DEFAULT_LOGIN_LIMITS, ...limits })
  await store.createClient({ id: 'backend', secretHash: hashClientSecret(SECRET), scopes: ['me'], createdAt: 1 })
  await store.createClient({ id: 'spa', secretHash: null, scopes: ['me', 'items'], createdAt: 2 })
  const context = { store, hasher, limiter, scopes: CATALOGUE }
  const authenticate = async (credentials: ClientCredentials, address = '192.0.2.1') => await authenticateClient(credentials, context, address)
  return { store, authenticate }
}

const failed = (usedBasic: boolean) => ({
  name: 'OAuthError', error: 'invalid_client', message: CLIENT_AUTHENTICATION_FAILED, statusCode: 401, headers: usedBasic ? { 'www-authenticate': 'Basic realm="token", charset="UTF-8"' } : {}
})

t.test('authenticateClient: first-party is public and may have every scope; a registered client as it was registered', async t => {
  const { authenticate } = await setup(t)
  t.strictSame(await authenticate({ clientId: FIRST_PARTY, secret: null, method: 'none' }), { id: FIRST_PARTY, secretHash: null, scopes: ['me', 'items'], createdAt: 0 })
  t.strictSame(await authenticate({ clientId: FIRST_PARTY, secret: '', method: 'basic' }), { id: FIRST_PARTY, secretHash: null, scopes: ['me', 'items'], createdAt: 0 }, 'an empty secret is none')
  t.match(await authenticate({ clientId: 'backend', secret: SECRET, method: 'basic' }), { id: 'backend', scopes: ['me'] })
  t.match(await authenticate({ clientId: 'spa', secret: null, method: 'body' }), { id: 'spa', secretHash: null })
})

t.test('authenticateClient: one refusal for an unknown client, a wrong secret, a missing one, and a public client given one', async t => {
  const { authenticate } = await setup(t)
  const cases: ClientCredentials[] = [
    { clientId: 'nobody', secret: SECRET, method: 'body' },
    { clientId: 'backend', secret: `${SECRET}x`, method: 'basic' },
    { clientId: 'backend', secret: null, method: 'body' },
    { clientId: 'spa', secret: SECRET, method: 'basic' },
    { clientId: FIRST_PARTY, secret: SECRET, method: 'body' }
  ]
  for (const credentials of cases) {
    await t.rejects(authenticate(credentials), failed(credentials.method === 'basic'), JSON.stringify(credentials))
  }
})

t.test('authenticateClient: failures count against the address like failed logins; a success takes its attempt back', async t => {
  const { authenticate } = await setup(t, { address: 2 })
  const right: ClientCredentials = { clientId: 'backend', secret: SECRET, method: 'body' }
  const wrong: ClientCredentials = { clientId: 'backend', secret: 'wrong', method: 'body' }
  for (let attempt = 0; attempt < 3; attempt++) await authenticate(right)
  await t.rejects(authenticate(wrong), failed(false))
  await t.rejects(authenticate(wrong), failed(false))
  await t.rejects(authenticate(right), { name: 'OAuthError', error: 'invalid_request', statusCode: 429, headers: { 'retry-after': /^\d+$/ } })
  t.ok(await authenticate(right, '198.51.100.7'), 'another address is not limited')
  t.ok(await authenticate({ clientId: FIRST_PARTY, secret: null, method: 'none' }), 'first-party, which has no secret to guess, is not counted')
})

t.test('authenticateClient: a secret an earlier version hashed with argon2 verifies, and is kept as a digest from then on', async t => {
  const { store, authenticate } = await setup(t)
  await store.createClient({ id: 'legacy', secretHash: await hasher.hash(SECRET), scopes: ['me'], createdAt: 3 })
  t.ok(await authenticate({ clientId: 'legacy', secret: SECRET, method: 'body' }))
  t.equal((await store.findClient('legacy'))?.secretHash, hashClientSecret(SECRET))
  t.ok(await authenticate({ clientId: 'legacy', secret: SECRET, method: 'body' }), 'and still verifies')
})
