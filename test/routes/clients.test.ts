import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, addUser, PASSWORD, basic, claims, assertOAuthError, cheapHasher } from '../helper.js'
import { hashClientSecret } from '../../clients/secrets.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** POSTs a password grant for johndoe to /token, with extra fields and headers. */
async function passwordGrant (
  app: FastifyInstance,
  fields: Record<string, string> = {},
  headers: Record<string, string> = {}
): Promise<LightMyRequestResponse> {
  const payload = new URLSearchParams({ grant_type: 'password', username: 'johndoe', password: PASSWORD, ...fields }).toString()
  return await app.inject({ method: 'POST', url: '/token', payload, headers: { ...FORM, ...headers } })
}

/** A 200 from /token: returns the access token's claims. */
function assertLogin (t: Test, response: LightMyRequestResponse): Record<string, unknown> & { scope: string } {
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  t.equal(response.headers.pragma, 'no-cache')
  const body = response.json()
  t.equal(body.token_type, 'bearer')
  return { ...claims(body.access_token), scope: body.scope }
}

// A secret with the characters that form-encoding changes: a colon, a plus, a space, a percent and non-ASCII.
const SECRET = 'conf: secret+with %20 spaces/é'
const CONFIDENTIAL = 'confidential-app'
const PUBLIC = 'public-app'
const NARROW = 'narrow-app'
const ODD = 'odd:id with spaces'

async function setup (t: Test): Promise<FastifyInstance> {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe', { scopes: ['me', 'items'] })
  const secretHash = hashClientSecret(SECRET)
  const createdAt = Date.now()
  await app.authStore.createClient({ id: CONFIDENTIAL, secretHash, scopes: ['me', 'items'], createdAt })
  await app.authStore.createClient({ id: ODD, secretHash, scopes: ['me', 'items'], createdAt })
  await app.authStore.createClient({ id: PUBLIC, secretHash: null, scopes: ['me', 'items'], createdAt })
  await app.authStore.createClient({ id: NARROW, secretHash, scopes: ['me'], createdAt })
  return app
}

t.test('clients that authenticate', async t => {
  const app = await setup(t)

  const cases: Array<{ name: string, fields?: Record<string, string>, headers?: Record<string, string>, clientId: string }> = [
    { name: 'confidential client via Basic', headers: { authorization: basic(CONFIDENTIAL, SECRET) }, clientId: CONFIDENTIAL },
    { name: 'confidential client via the body', fields: { client_id: CONFIDENTIAL, client_secret: SECRET }, clientId: CONFIDENTIAL },
    { name: 'a client id with a colon and spaces via Basic', headers: { authorization: basic(ODD, SECRET) }, clientId: ODD },
    { name: 'a client id with a colon and spaces via the body', fields: { client_id: ODD, client_secret: SECRET }, clientId: ODD },
    { name: 'public client by id alone', fields: { client_id: PUBLIC }, clientId: PUBLIC },
    { name: 'public client with an empty secret', fields: { client_id: PUBLIC, client_secret: '' }, clientId: PUBLIC },
    { name: 'no client at all is first-party', clientId: 'first-party' },
    { name: 'first-party named in the body', fields: { client_id: 'first-party' }, clientId: 'first-party' },
    { name: 'Swagger UI\'s empty Basic (Basic Og==) is first-party', headers: { authorization: 'Basic Og==' }, clientId: 'first-party' }
  ]
  for (const { name, fields, headers, clientId } of cases) {
    t.test(name, async t => {
      const token = assertLogin(t, await passwordGrant(app, fields, headers))
      t.equal(token.client_id, clientId, 'the access token names the client')
      t.equal(token.scope, 'me items')
    })
  }

  t.test('Basic with a client id spelled in any case of the scheme name', async t => {
    const authorization = basic(CONFIDENTIAL, SECRET).replace('Basic', 'bAsIc')
    t.equal(assertLogin(t, await passwordGrant(app, {}, { authorization })).client_id, CONFIDENTIAL)
  })
})

t.test('clients that fail', async t => {
  const app = await setup(t)
  const wrong = 'not the secret'

  const cases: Array<{
    name: string
    fields?: Record<string, string>
    headers?: Record<string, string>
    status: number
    error: string
    /** Whether the answer carries a Basic challenge (only when Basic was used, RFC 6749 §5.2). */
    challenge: boolean
  }> = [
    {
      name: 'both Basic and body credentials',
      headers: { authorization: basic(CONFIDENTIAL, SECRET) },
      fields: { client_id: CONFIDENTIAL, client_secret: SECRET },
      status: 400,
      error: 'invalid_request',
      challenge: false
    },
    {
      name: 'Basic and a body client_id only',
      headers: { authorization: basic(CONFIDENTIAL, SECRET) },
      fields: { client_id: CONFIDENTIAL },
      status: 400,
      error: 'invalid_request',
      challenge: false
    },
    { name: 'client_secret without client_id', fields: { client_secret: SECRET }, status: 400, error: 'invalid_request', challenge: false },
    { name: 'wrong secret via Basic', headers: { authorization: basic(CONFIDENTIAL, wrong) }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'wrong secret via the body', fields: { client_id: CONFIDENTIAL, client_secret: wrong }, status: 401, error: 'invalid_client', challenge: false },
    { name: 'no secret via Basic', headers: { authorization: basic(CONFIDENTIAL, '') }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'no secret via the body', fields: { client_id: CONFIDENTIAL }, status: 401, error: 'invalid_client', challenge: false },
    { name: 'the secret not form-encoded', headers: { authorization: `Basic ${Buffer.from(`${CONFIDENTIAL}:${SECRET}`).toString('base64')}` }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'unknown client via Basic', headers: { authorization: basic('nobody', SECRET) }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'unknown client via the body', fields: { client_id: 'nobody', client_secret: SECRET }, status: 401, error: 'invalid_client', challenge: false },
    { name: 'unknown client without a secret', fields: { client_id: 'nobody' }, status: 401, error: 'invalid_client', challenge: false },
    { name: 'public client with a secret via the body', fields: { client_id: PUBLIC, client_secret: SECRET }, status: 401, error: 'invalid_client', challenge: false },
    { name: 'public client with a secret via Basic', headers: { authorization: basic(PUBLIC, SECRET) }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'first-party with a secret via the body', fields: { client_id: 'first-party', client_secret: 'anything' }, status: 401, error: 'invalid_client', challenge: false },
    { name: 'first-party with a secret via Basic', headers: { authorization: basic('first-party', 'anything') }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'Basic without a colon', headers: { authorization: `Basic ${Buffer.from(CONFIDENTIAL).toString('base64')}` }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'Basic that is not base64', headers: { authorization: 'Basic ***' }, status: 401, error: 'invalid_client', challenge: true }
  ]
  for (const { name, fields, headers, status, error, challenge } of cases) {
    t.test(name, async t => {
      const response = await passwordGrant(app, fields, headers)
      assertOAuthError(t, response, status, error)
      if (challenge) t.match(response.headers['www-authenticate'], /^Basic /)
      else t.equal(response.headers['www-authenticate'], undefined)
    })
  }

  t.test('every failed client authentication gets the same answer: no client is told apart', async t => {
    const answers = await Promise.all([
      passwordGrant(app, { client_id: 'nobody', client_secret: SECRET }),
      passwordGrant(app, { client_id: CONFIDENTIAL, client_secret: wrong }),
      passwordGrant(app, { client_id: CONFIDENTIAL }),
      passwordGrant(app, { client_id: PUBLIC, client_secret: SECRET }),
      passwordGrant(app, { client_id: 'first-party', client_secret: SECRET })
    ])
    for (const answer of answers) t.strictSame(answer.json(), { error: 'invalid_client', error_description: 'Client authentication failed' })
  })
})

t.test('a client\'s scopes bound what its users get', async t => {
  const app = await setup(t)
  const asNarrow = { client_id: NARROW, client_secret: SECRET }

  t.test('no scope asked: only the scopes both the user and the client have', async t => {
    const token = assertLogin(t, await passwordGrant(app, asNarrow))
    t.equal(token.scope, 'me')
    t.equal(token.client_id, NARROW)
  })
  t.test('a scope the client may not have', async t => {
    assertOAuthError(t, await passwordGrant(app, { ...asNarrow, scope: 'items' }), 400, 'invalid_scope')
    assertOAuthError(t, await passwordGrant(app, { ...asNarrow, scope: 'me items' }), 400, 'invalid_scope')
  })
  t.test('a scope the client may have', async t => {
    t.equal(assertLogin(t, await passwordGrant(app, { ...asNarrow, scope: 'me' })).scope, 'me')
  })
})

t.test('a client secret hashed with argon2 by an earlier version still authenticates, and is stored as a digest after', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const hasher = cheapHasher()
  await app.authStore.createClient({ id: 'legacy', secretHash: await hasher.hash(SECRET), scopes: ['me'], createdAt: Date.now() })
  assertOAuthError(t, await passwordGrant(app, { client_id: 'legacy', client_secret: 'wrong' }), 401, 'invalid_client')
  t.match((await app.authStore.findClient('legacy'))?.secretHash, /^\$argon2id\$/, 'a wrong secret changes nothing')
  assertLogin(t, await passwordGrant(app, { client_id: 'legacy', client_secret: SECRET }))
  t.equal((await app.authStore.findClient('legacy'))?.secretHash, hashClientSecret(SECRET), 'rehashed as a SHA-256 digest')
  assertLogin(t, await passwordGrant(app, { client_id: 'legacy', client_secret: SECRET }))
})

t.test('failed client authentications count against the address: after 100, 429 with Retry-After', async t => {
  const app = await setup(t)
  const from = (remoteAddress: string, fields: Record<string, string>) => app.inject({
    method: 'POST',
    url: '/introspect',
    remoteAddress,
    payload: new URLSearchParams({ token: 'anything', ...fields }).toString(),
    headers: FORM
  })
  for (let attempt = 1; attempt <= 100; attempt++) {
    const response = await from('203.0.113.9', { client_id: CONFIDENTIAL, client_secret: `wrong ${attempt}` })
    t.equal(response.statusCode, 401, `failure ${attempt}`)
  }
  const blocked = await from('203.0.113.9', { client_id: CONFIDENTIAL, client_secret: SECRET })
  assertOAuthError(t, blocked, 429, 'invalid_request')
  t.match(blocked.headers['retry-after'], /^[1-9]\d*$/)
  const elsewhere = await from('198.51.100.2', { client_id: CONFIDENTIAL, client_secret: SECRET })
  t.equal(elsewhere.statusCode, 200, 'another address is not affected')
})

t.test('a flood of wrong client secrets does not keep password hashing from logins', async t => {
  const app = await setup(t)
  // Hashing one at a time with a short queue: any hashing the flood caused would refuse the logins with 503.
  const flood = Array.from({ length: 70 }, async (_, index) => await app.inject({
    method: 'POST',
    url: '/introspect',
    remoteAddress: `203.0.113.${index % 50}`,
    payload: new URLSearchParams({ token: 'anything', client_id: CONFIDENTIAL, client_secret: `wrong ${index}` }).toString(),
    headers: FORM
  }))
  // Fewer than the pair limit: concurrent logins of one user from one address are all counted until they succeed.
  const logins = Array.from({ length: 8 }, async () => await passwordGrant(app))
  const [floodAnswers, loginAnswers] = await Promise.all([Promise.all(flood), Promise.all(logins)])
  t.same([...new Set(floodAnswers.map(response => response.statusCode))], [401])
  t.equal(loginAnswers.filter(response => response.statusCode === 200).length, 8, 'every login was served')
})
