import { createHash, randomBytes, randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import { Redis } from 'ioredis'
import oauth2Password, { type OAuth2PasswordOptions } from '../../plugins/auth.js'
import { MemoryStore } from '../../store/index.js'
import { CHEAP_ARGON2, addUser, PASSWORD } from '../helper.js'

const OPTIONS = {
  store: 'memory:',
  issuer: 'http://api.test',
  scopes: { 'orders:read': 'Read orders' },
  argon2: CHEAP_ARGON2
} satisfies OAuth2PasswordOptions

const REALM = 'Bearer realm="http://api.test"'

/** A host service of its own: its JSON routes, its orders route protected by the plugin. */
async function host (t: Test, options: Partial<OAuth2PasswordOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(oauth2Password, { ...OPTIONS, ...options })
  app.get('/orders', { preHandler: app.authenticate, config: { scopes: ['orders:read'] } }, async (request) => {
    // Typed by the plugin's declaration merging: no cast.
    const username: string = request.user.username
    const scopes: string[] = request.user.scopes
    return { orders: [], username, scopes }
  })
  app.post('/echo', async (request) => ({ received: request.body }))
  await app.ready()
  return app
}

async function loginAt (app: FastifyInstance, url: string, username: string) {
  return await app.inject({
    method: 'POST',
    url,
    payload: new URLSearchParams({ grant_type: 'password', username, password: PASSWORD }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
}

t.test('embedded in a bare Fastify app', async t => {
  const app = await host(t)
  await addUser(app.authStore, 'shopper', { scopes: ['orders:read'] })
  await addUser(app.authStore, 'visitor', { scopes: [] })

  const login = await loginAt(app, '/token', 'shopper')
  t.equal(login.statusCode, 200, login.body)
  t.equal(login.json().scope, 'orders:read')
  const token: string = login.json().access_token

  t.test('a token with the scope reaches the handler, which sees request.user', async t => {
    const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${token}` } })
    t.equal(response.statusCode, 200, response.body)
    t.strictSame(response.json(), { orders: [], username: 'shopper', scopes: ['orders:read'] })
  })

  t.test('no token: 401', async t => {
    const response = await app.inject({ url: '/orders' })
    t.equal(response.statusCode, 401, response.body)
    t.equal(response.json().code, 'OAUTH2_TOKEN_MISSING')
    t.equal(response.headers['www-authenticate'], REALM)
  })

  t.test('a user without the scope: 403', async t => {
    const visitor = await loginAt(app, '/token', 'visitor')
    t.equal(visitor.statusCode, 200, visitor.body)
    t.equal(visitor.json().scope, '')
    const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${visitor.json().access_token}` } })
    t.equal(response.statusCode, 403, response.body)
    t.equal(response.json().code, 'OAUTH2_INSUFFICIENT_SCOPE')
    t.equal(response.headers['www-authenticate'], `${REALM}, error="insufficient_scope", scope="orders:read"`)
  })

  t.test('the issuer and the audience are the configured ones', async t => {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
    t.equal(payload.iss, 'http://api.test')
    t.equal(payload.aud, 'http://api.test')
  })

  t.test('the host\'s JSON routes still parse JSON', async t => {
    const response = await app.inject({ method: 'POST', url: '/echo', payload: { order: 42 } })
    t.equal(response.statusCode, 200, response.body)
    t.strictSame(response.json(), { received: { order: 42 } })
  })

  t.test('the host keeps Fastify\'s own error format', async t => {
    const response = await app.inject({
      method: 'POST', url: '/echo', payload: '{"order":', headers: { 'content-type': 'application/json' }
    })
    t.equal(response.statusCode, 400, response.body)
    t.equal(response.json().code, 'FST_ERR_CTP_INVALID_JSON_BODY')
    t.equal(response.json().error, 'Bad Request')
    t.equal(response.json().error_description, undefined, 'not the token endpoint\'s format')
  })

  t.test('the token endpoint keeps its own error format', async t => {
    const response = await app.inject({ method: 'POST', url: '/token', payload: { grant_type: 'password' } })
    t.equal(response.statusCode, 400, response.body)
    t.strictSame(response.json(), { error: 'invalid_request', error_description: response.json().error_description })
    t.equal(response.headers['cache-control'], 'no-store')
  })
})

t.test('the host\'s error handler is not replaced', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.setErrorHandler(async (error, _request, reply) => {
    return await reply.code((error as { statusCode?: number }).statusCode ?? 500).send({ hostHandled: true, message: error instanceof Error ? error.message : '' })
  })
  await app.register(oauth2Password, OPTIONS)
  app.get('/orders', { preHandler: app.authenticate, config: { scopes: ['orders:read'] } }, async () => ({ orders: [] }))
  app.get('/boom', async () => { throw new Error('boom') })
  await app.ready()

  const boom = await app.inject({ url: '/boom' })
  t.equal(boom.statusCode, 500)
  t.strictSame(boom.json(), { hostHandled: true, message: 'boom' })

  const orders = await app.inject({ url: '/orders' })
  t.equal(orders.statusCode, 401, orders.body)
  t.equal(orders.json().hostHandled, true, 'the protected route\'s error goes through the host\'s handler')
  t.equal(orders.headers['www-authenticate'], REALM, 'with the challenge that authenticate set')

  const tokenError = await app.inject({
    method: 'POST',
    url: '/token',
    payload: 'grant_type=foo',
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  t.equal(tokenError.statusCode, 400, tokenError.body)
  t.equal(tokenError.json().error, 'unsupported_grant_type', 'the token endpoint keeps its RFC 6749 format')
})

t.test('under a prefix', async t => {
  const app = await host(t, { prefix: '/auth' })
  await addUser(app.authStore, 'shopper', { scopes: ['orders:read'] })

  const login = await loginAt(app, '/auth/token', 'shopper')
  t.equal(login.statusCode, 200, login.body)
  const jwks = await app.inject({ url: '/auth/.well-known/jwks.json' })
  t.equal(jwks.statusCode, 200, jwks.body)

  const metadata = await app.inject({ url: '/auth/.well-known/oauth-authorization-server' })
  t.equal(metadata.statusCode, 200, metadata.body)
  t.match(metadata.json(), {
    issuer: 'http://api.test',
    token_endpoint: 'http://api.test/auth/token',
    jwks_uri: 'http://api.test/auth/.well-known/jwks.json'
  })
  for (const url of ['/auth/revoke', '/auth/introspect']) {
    const response = await app.inject({ method: 'POST', url, payload: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.not(response.statusCode, 404, `${url} exists`)
  }

  const unprefixed = await loginAt(app, '/token', 'shopper')
  t.equal(unprefixed.statusCode, 404, unprefixed.body)
  t.equal((await loginAt(app, '/auth/auth/token', 'shopper')).statusCode, 404, 'the prefix applies once')
  for (const url of ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server']) {
    t.equal((await app.inject({ url })).statusCode, 404, `${url} is not served`)
  }

  const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${login.json().access_token}` } })
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.json().username, 'shopper')
})

t.test('a store object the host owns is used and left open', async t => {
  const store = new MemoryStore()
  const app = Fastify()
  await app.register(oauth2Password, { ...OPTIONS, store })
  t.equal(app.authStore, store)
  await addUser(store, 'shopper', { scopes: ['orders:read'] })
  const login = await loginAt(app, '/token', 'shopper')
  t.equal(login.statusCode, 200, login.body)
  await app.close()
  await t.resolves(store.ping(), 'the plugin closes only a store it opened')
})

t.test('wrong options fail ready() with a message naming the option', async t => {
  const cases: Array<{ name: string, options: Record<string, unknown>, message: RegExp }> = [
    { name: 'issuer not a string', options: { ...OPTIONS, issuer: 42 }, message: /option "issuer"/ },
    { name: 'issuer not a URL', options: { ...OPTIONS, issuer: 'api.test' }, message: /option "issuer"/ },
    { name: 'missing scopes', options: { store: OPTIONS.store, issuer: OPTIONS.issuer }, message: /option "scopes"/ },
    { name: 'a scope name that is no scope token', options: { ...OPTIONS, scopes: { 'read orders': 'x' } }, message: /option "scopes"/ },
    { name: 'an unknown option', options: { ...OPTIONS, secret: 'x' }, message: /option "secret"/ },
    { name: 'missing store', options: { issuer: OPTIONS.issuer, scopes: OPTIONS.scopes }, message: /option "store"/ },
    { name: 'a store object lacking methods', options: { ...OPTIONS, store: { ping: async () => {} } }, message: /option "store"/ },
    { name: 'algorithm HS256', options: { ...OPTIONS, algorithm: 'HS256' }, message: /option "algorithm"/ },
    { name: 'a memory cost below 1024', options: { ...OPTIONS, argon2: { memoryCost: 8 } }, message: /option "argon2.memoryCost"/ },
    { name: 'a zero access token lifetime', options: { ...OPTIONS, accessTokenTtl: 0 }, message: /option "accessTokenTtl"/ },
    {
      name: 'a signing key secret shorter than 32 characters',
      options: { ...OPTIONS, signingKeySecret: 'x'.repeat(31) },
      message: /^oauth2-password: option "signingKeySecret" must be a string of at least 32 characters; received a string of 31 characters$/
    },
    { name: 'a signing key secret not a string', options: { ...OPTIONS, signingKeySecret: 42 }, message: /option "signingKeySecret" .*received number$/ }
  ]
  for (const { name, options, message } of cases) {
    t.test(name, async t => {
      const app = Fastify()
      t.teardown(() => app.close())
      app.register(oauth2Password, options as unknown as OAuth2PasswordOptions)
      // ready() is a PromiseLike, not a Promise: tap's rejects takes a function returning one.
      await t.rejects(async () => { await app.ready() }, message)
    })
  }

  t.test('the message never echoes a store URL', async t => {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(oauth2Password, { ...OPTIONS, store: 'mysql://user:hunter2@db/auth' })
    const error = await app.ready().then(() => null, (error: unknown) => error)
    t.type(error, Error)
    t.notMatch((error as Error).message, /hunter2/)
  })

  t.test('the message never echoes a secret, even under a misspelt name', async t => {
    for (const options of [{ ...OPTIONS, signingKeySecret: 'hunter2' }, { ...OPTIONS, signingKeysecret: 'hunter2'.repeat(8) }]) {
      const app = Fastify()
      t.teardown(() => app.close())
      app.register(oauth2Password, options as unknown as OAuth2PasswordOptions)
      const error = await app.ready().then(() => null, (error: unknown) => error)
      t.match((error as Error).message, /option "signingKey[Ss]ecret"/)
      t.notMatch((error as Error).message, /hunter2/)
    }
  })
})

t.test('signingKeySecret encrypts the keys in the store; without it, or with another, ready() fails and says why', async t => {
  const SECRET = 'the host service\'s secret, 32 characters or more'
  const store = new MemoryStore()
  const app = await host(t, { store, signingKeySecret: SECRET })
  const [key, ...others] = await store.listSigningKeys()
  t.equal(others.length, 0)
  t.match(key?.privateKey, /^\$aes-256-gcm\$v=1\$/, 'the first key is stored encrypted')
  t.notMatch(key?.privateKey, 'PRIVATE KEY')

  await addUser(store, 'shopper', { scopes: ['orders:read'] })
  const login = await loginAt(app, '/token', 'shopper')
  t.equal(login.statusCode, 200, login.body)
  const orders = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${login.json().access_token}` } })
  t.equal(orders.statusCode, 200, 'the decrypted key signs, and its public key verifies')

  const cases = [
    { name: 'another secret', options: { signingKeySecret: 'another secret, of 32 characters or more' }, message: /^signing key \S+ does not decrypt with this SIGNING_KEY_SECRET \(the plugin's signingKeySecret option\)/ },
    { name: 'no secret', options: {}, message: /^signing key \S+ is encrypted in the store, and SIGNING_KEY_SECRET \(the plugin's signingKeySecret option\) is not set/ }
  ]
  for (const { name, options, message } of cases) {
    t.test(name, async t => {
      const other = Fastify()
      t.teardown(() => other.close())
      other.register(oauth2Password, { ...OPTIONS, store, ...options })
      const error = await other.ready().then(() => null, (error: unknown) => error)
      t.type(error, Error)
      t.match((error as Error).message, message)
      t.notMatch((error as Error).message, key?.privateKey.slice(20, 60) ?? 'missing', 'nor the stored value')
      t.notMatch((error as Error).message, SECRET)
      t.strictSame(await store.listSigningKeys(), [key], 'the store is left as it was')
    })
  }
})

t.test('a saturated hashing queue answers 503 temporarily_unavailable at once, with Retry-After', async t => {
  // One hash at a time and no queue: of several simultaneous logins, the ones beyond the first are refused.
  const app = await host(t, { hashing: { concurrency: 1, queueLimit: 0 }, argon2: { memoryCost: 8192, timeCost: 3, parallelism: 1 } })
  await addUser(app.authStore, 'johndoe', { scopes: ['orders:read'] })
  const responses = await Promise.all(Array.from({ length: 4 }, async () => await loginAt(app, '/token', 'johndoe')))
  const statuses = responses.map(response => response.statusCode).sort()
  t.equal(statuses[0], 200, 'the first login is served')
  const refused = responses.filter(response => response.statusCode === 503)
  t.ok(refused.length >= 1, `the others are refused (${statuses.join(', ')})`)
  for (const response of refused) {
    t.same(response.json(), { error: 'temporarily_unavailable', error_description: response.json().error_description })
    t.match(response.headers['retry-after'], /^[1-9][0-9]*$/)
    t.equal(response.headers['cache-control'], 'no-store')
  }
})

t.test('authUsers creates, from code, a user who logs in, with the plugin\'s rules', async t => {
  const app = await host(t, { prefix: '/auth', passwordMinLength: 20 })
  const created = await app.authUsers.create({ username: 'Shopper', password: PASSWORD, scopes: ['orders:read'] })
  t.equal(created.username, 'shopper', 'canonicalised, so that the login below finds it')
  const login = await loginAt(app, '/auth/token', 'SHOPPER')
  t.equal(login.statusCode, 200, login.body)
  const orders = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${login.json().access_token}` } })
  t.equal(orders.statusCode, 200, orders.body)
  t.equal(orders.json().username, 'shopper')
  t.match((await app.authStore.findUserByUsername('shopper'))?.passwordHash, /^\$argon2id\$v=19\$m=1024,/,
    'hashed with argon2id and the plugin\'s parameters')

  const weak = await app.authUsers.create({ username: 'visitor', password: 'nineteen characters' }).then(() => null, (error: Error & { code: string }) => error)
  t.equal(weak?.code, 'OAUTH2_PASSWORD_WEAK', 'the plugin\'s passwordMinLength applies')
  t.match(weak?.message, 'at least 20 characters')
  t.equal(await app.authUsers.find('visitor'), null, 'and nothing was created')

  await app.authUsers.disable('shopper')
  const refused = await loginAt(app, '/auth/token', 'shopper')
  t.equal(refused.statusCode, 400, 'a user disabled through authUsers cannot log in')
  t.equal(refused.json().error_description, 'The user is disabled')
})

t.test('wrong users-API and Redis options fail ready() naming them', async t => {
  const cases: Array<{ name: string, options: Record<string, unknown>, message: RegExp }> = [
    { name: 'passwordMinLength below 8', options: { ...OPTIONS, passwordMinLength: 7 }, message: /option "passwordMinLength" must be an integer from 8 to 1024; received 7/ },
    { name: 'redis not a redis:// URL', options: { ...OPTIONS, redis: 'http://cache' }, message: /option "redis" must be a redis:\/\/ URL or an ioredis client/ },
    { name: 'a redis object that is no client', options: { ...OPTIONS, redis: { get: () => null } }, message: /option "redis" lacks the Redis client methods pipeline, eval, del, ping/ },
    { name: 'a store URL of an unknown scheme', options: { ...OPTIONS, store: 'mysql://user:hunter2@db/auth' }, message: /^oauth2-password: option "store" has the scheme 'mysql:'/ }
  ]
  for (const { name, options, message } of cases) {
    t.test(name, async t => {
      const app = Fastify()
      t.teardown(() => app.close())
      app.register(oauth2Password, options as unknown as OAuth2PasswordOptions)
      await t.rejects(async () => { await app.ready() }, message)
    })
  }
})

const redisUrl = process.env.TEST_REDIS_URL
t.test('option redis: the host\'s own ioredis client counts failed logins and is left open', { skip: redisUrl === undefined ? 'TEST_REDIS_URL is not set' : false }, async t => {
  const client = new Redis(redisUrl ?? '', { maxRetriesPerRequest: 1 })
  t.teardown(() => client.quit())
  // A username and an address of this run only, so that no other run's counts, nor this run's, reach another test.
  const username = `shopper-${randomUUID()}`
  const remoteAddress = `2001:db8::${randomBytes(4).toString('hex').replace(/(....)(....)/, '$1:$2')}`
  const digest = createHash('sha256').update(username).digest('base64url').slice(0, 22)
  const keys = async (): Promise<string[]> => [
    ...await client.keys(`oauth2-password:login:*${digest}*`),
    ...await client.keys(`oauth2-password:login:addr:${remoteAddress}`)
  ]
  t.teardown(async () => {
    const left = await keys()
    if (left.length > 0) await client.del(...left)
  })
  const app = await host(t, { redis: client, loginLimits: { pair: 2 } })
  await addUser(app.authStore, username, { scopes: ['orders:read'] })
  const wrong = async () => await app.inject({
    method: 'POST',
    url: '/token',
    remoteAddress,
    payload: new URLSearchParams({ grant_type: 'password', username, password: 'not the password at all' }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  t.equal((await wrong()).statusCode, 400)
  t.equal((await wrong()).statusCode, 400)
  t.equal((await wrong()).statusCode, 429, 'the third failure in a row is over the limit')
  t.ok((await keys()).length >= 3, 'the counts are in the host\'s Redis')
  await app.close()
  t.equal(await client.ping(), 'PONG', 'closing the app leaves the host\'s client connected')
})

t.test('the OpenAPI security scheme names the token URL under every prefix, in the host\'s @fastify/swagger', async t => {
  const hostOptions = {
    openapi: {
      info: { title: 'shop', version: '1.0.0' },
      components: { securitySchemes: { ApiKey: { type: 'apiKey' as const, name: 'x-api-key', in: 'header' as const } } }
    }
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, hostOptions)
  await app.register(async v1 => {
    await v1.register(oauth2Password, { ...OPTIONS, prefix: '/auth' })
    v1.get('/orders', { preHandler: v1.authenticate, config: { scopes: ['orders:read'] } }, async () => ({ orders: [] }))
  }, { prefix: '/v1' })
  await app.ready()
  const document = app.swagger() as { components: { securitySchemes: Record<string, unknown> }, paths: Record<string, Record<string, { security?: unknown }>> }
  t.strictSame(document.components.securitySchemes, {
    ApiKey: { type: 'apiKey', name: 'x-api-key', in: 'header' },
    OAuth2PasswordBearer: {
      type: 'oauth2',
      flows: { password: { tokenUrl: '/v1/auth/token', refreshUrl: '/v1/auth/token', scopes: { 'orders:read': 'Read orders' } } }
    }
  }, 'the host\'s schemes stay, and the token URL is the route\'s own')
  t.strictSame(document.paths['/v1/orders']?.get?.security, [{ OAuth2PasswordBearer: ['orders:read'] }])
  t.ok(document.paths['/v1/auth/token']?.post, 'the token endpoint is documented where it is served')
  t.strictSame(Object.keys(hostOptions.openapi.components.securitySchemes), ['ApiKey'], 'the host\'s options object is not written to')

  const swagger2 = Fastify()
  t.teardown(() => swagger2.close())
  await swagger2.register(swagger, { swagger: { info: { title: 'shop', version: '1.0.0' } } })
  await swagger2.register(oauth2Password, { ...OPTIONS, prefix: '/auth' })
  await swagger2.ready()
  t.strictSame((swagger2.swagger() as { securityDefinitions?: unknown }).securityDefinitions, {
    OAuth2PasswordBearer: { type: 'oauth2', flow: 'password', tokenUrl: '/auth/token', scopes: { 'orders:read': 'Read orders' } }
  }, 'a Swagger 2.0 document gets it as a security definition')
})
