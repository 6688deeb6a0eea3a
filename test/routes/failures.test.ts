import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fp from 'fastify-plugin'
import t, { type Test } from 'tap'
import app from '../../app.js'
import { loadConfig } from '../../config/index.js'
import { loggerOptions } from '../../config/logger.js'
import oauth2Password from '../../plugins/auth.js'
import { MemoryStore, type Store } from '../../store/index.js'
import { CHEAP_ARGON2, PASSWORD, TEST_ARGON2, addUser, assertOAuthError, basic, build, createClient, freePort, login, refresh, refreshTokenOf } from '../helper.js'

// A store that fails, as a database driver fails: its message names an address, a connection
// string and a SQLSTATE, and it has a code of its own. Every endpoint answers 503 with Retry-After,
// and no body says a word of it; the log keeps it. Any other 5xx error of the standalone server is
// hidden the same way.

const LEAK = 'connect ECONNREFUSED 10.20.30.40:5432 (postgres://auth@db.internal:5432/auth, SQLSTATE 57P03)'
/** What no response may carry. */
const INTERNALS = /ECONNREFUSED|10\.20\.30\.40|5432|db\.internal|postgres|57P03/

const failure = (): Error => Object.assign(new Error(LEAK), { code: 'ECONNREFUSED' })

/** Makes every method of `store` but close fail; returns what undoes it. */
function breakStore (store: Store, error: () => Error = failure): () => void {
  // Up the prototype chain: MemoryStore's methods are SqliteStore's.
  const methods = new Set<string>()
  for (let prototype = Object.getPrototypeOf(store); prototype !== Object.prototype; prototype = Object.getPrototypeOf(prototype)) {
    for (const name of Object.getOwnPropertyNames(prototype)) if (name !== 'constructor' && name !== 'close') methods.add(name)
  }
  for (const method of methods) Object.defineProperty(store, method, { value: async () => { throw error() }, configurable: true, writable: true })
  return () => { for (const method of methods) Reflect.deleteProperty(store, method) }
}

function assertUnavailable (t: Test, response: LightMyRequestResponse, name: string): void {
  t.test(name, async t => {
    assertOAuthError(t, response, 503, 'temporarily_unavailable')
    t.equal(response.headers['retry-after'], '5')
    t.equal(response.json().error_description, 'The service is temporarily unavailable; retry shortly')
    t.notMatch(response.body, INTERNALS)
  })
}

const UNAVAILABLE_BODY = { statusCode: 503, code: 'STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'The store did not answer; retry shortly' }

t.test('the store failing: the token, revoke and introspect endpoints answer 503 temporarily_unavailable with Retry-After', async t => {
  const { app, logs } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await createClient(app, 'resource-server', 'a long enough client secret')
  const session = await login(app, 'johndoe')
  const form = { 'content-type': 'application/x-www-form-urlencoded' }

  const restore = breakStore(app.authStore)
  assertUnavailable(t, await app.inject({ method: 'POST', url: '/token', headers: form, payload: `grant_type=password&username=johndoe&password=${encodeURIComponent(PASSWORD)}` }), 'a login')
  assertUnavailable(t, await refresh(app, refreshTokenOf(session)), 'a refresh')
  assertUnavailable(t, await app.inject({ method: 'POST', url: '/revoke', headers: form, payload: `token=${session.access_token}` }), 'a revocation')
  assertUnavailable(t, await app.inject({
    method: 'POST', url: '/introspect', headers: { ...form, authorization: basic('resource-server', 'a long enough client secret') }, payload: `token=${session.access_token}`
  }), 'an introspection')
  const line = logs().find(entry => entry.msg === 'token endpoint unavailable')
  t.match(line, { level: 40, err: { type: 'StoreUnavailableError', code: 'STORE_UNAVAILABLE' } }, 'the log says what happened')
  t.match((line?.err as { message?: string } | undefined)?.message, LEAK)

  restore()
  const retried = await refresh(app, refreshTokenOf(session))
  t.equal(retried.statusCode, 200, `the refresh refused meanwhile succeeds: ${retried.body}`)
})

t.test('the store failing: a protected route answers 503 with a generic message and Retry-After, and /health names the store', async t => {
  const { app, logs } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const session = await login(app, 'johndoe')

  const restore = breakStore(app.authStore)
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${session.access_token}` } })
  t.equal(me.statusCode, 503, me.body)
  t.equal(me.headers['retry-after'], '5')
  t.equal(me.headers['cache-control'], 'no-store')
  t.equal(me.headers['www-authenticate'], undefined, 'no challenge: the token was not refused')
  t.strictSame(me.json(), UNAVAILABLE_BODY)
  t.ok(logs().some(entry => entry.msg === 'request refused' && String((entry.err as { message?: string }).message).includes(LEAK)), 'the log says what happened')

  const health = await app.inject({ url: '/health' })
  t.equal(health.statusCode, 503)
  t.strictSame(health.json(), { status: 'unavailable', unavailable: ['store'] })
  t.notMatch(health.body, INTERNALS)

  restore()
  t.equal((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${session.access_token}` } })).statusCode, 200)
  t.equal((await app.inject({ url: '/health' })).statusCode, 200)
})

t.test('Redis not answering: /health names it, and the store too when both fail', async t => {
  const { app } = await build(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  const redis = await app.inject({ url: '/health' })
  t.equal(redis.statusCode, 503)
  t.strictSame(redis.json(), { status: 'unavailable', unavailable: ['redis'] })
  breakStore(app.authStore)
  t.strictSame((await app.inject({ url: '/health' })).json(), { status: 'unavailable', unavailable: ['store', 'redis'] })
})

/** The standalone app with routes that fail as a bug or a dependency would, and its log. */
async function standalone (t: Test): Promise<{ server: FastifyInstance, logs: () => Array<Record<string, unknown>> }> {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(line => line !== ''))
      callback()
    }
  })
  const server = Fastify({ logger: loggerOptions('info', stream) })
  await server.register(fp(app), { config: loadConfig({ DATABASE_URL: 'memory:', ...TEST_ARGON2 }) })
  server.get('/internal', async () => { throw failure() })
  server.get('/gateway', async () => { throw Object.assign(failure(), { statusCode: 502 }) })
  server.get('/teapot', async () => { throw Object.assign(new Error('short and stout'), { statusCode: 418 }) })
  await server.ready()
  t.teardown(() => server.close())
  return { server, logs: () => lines.map(line => JSON.parse(line) as Record<string, unknown>) }
}

t.test('the standalone server never shows a 5xx error\'s own message or code, and logs it whole', async t => {
  const { server, logs } = await standalone(t)
  const internal = await server.inject({ url: '/internal' })
  t.equal(internal.statusCode, 500)
  t.strictSame(internal.json(), { statusCode: 500, code: 'SERVER_ERROR', error: 'Internal Server Error', message: 'The server could not handle the request' })
  const gateway = await server.inject({ url: '/gateway' })
  t.equal(gateway.statusCode, 502)
  t.strictSame(gateway.json(), { statusCode: 502, code: 'SERVER_ERROR', error: 'Bad Gateway', message: 'The server could not handle the request' })
  t.match(logs().filter(entry => entry.msg === 'request failed'), [
    { level: 50, err: { message: LEAK, code: 'ECONNREFUSED' } },
    { level: 50, err: { message: LEAK, statusCode: 502 } }
  ])
  const teapot = await server.inject({ url: '/teapot' })
  t.equal(teapot.statusCode, 418)
  t.match(teapot.json(), { statusCode: 418, message: 'short and stout' }, 'below 500, Fastify\'s answer is kept')
})

t.test('embedded: the host\'s protected routes answer 503 through Fastify\'s own handler, whatever a store of the host throws', async t => {
  const store = new MemoryStore()
  const host = Fastify()
  t.teardown(() => host.close())
  await host.register(oauth2Password, { store, issuer: 'http://api.test', scopes: { 'orders:read': 'Read orders' }, argon2: CHEAP_ARGON2 })
  host.get('/orders', { preHandler: host.authenticate, config: { scopes: ['orders:read'] } }, async () => ({ orders: [] }))
  await addUser(store, 'shopper', { scopes: ['orders:read'] })
  const session = await login(host, 'shopper')

  // Not a StoreUnavailableError: a custom store's own error, with internals in its message.
  breakStore(store, () => new TypeError(`Cannot read properties of undefined (reading 'rows') after ${LEAK}`))
  const orders = await host.inject({ url: '/orders', headers: { authorization: `Bearer ${session.access_token}` } })
  t.equal(orders.statusCode, 503, orders.body)
  t.equal(orders.headers['retry-after'], '5')
  t.strictSame(orders.json(), UNAVAILABLE_BODY)
  assertUnavailable(t, await refresh(host, refreshTokenOf(session)), 'a refresh')
})
