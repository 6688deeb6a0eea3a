import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import formbody from '@fastify/formbody'
import oauth2Password from '../../plugins/auth.js'
import { CHEAP_ARGON2, addUser, PASSWORD } from '../helper.js'

// A host that signs tokens of its own with its own @fastify/jwt, registered before or after this
// plugin: both start, the host's tokens verify with its secret, this plugin's with its keys, and
// neither is accepted by the other.

const HOST_SECRET = 'the host service signs its own tokens with this'

async function host (t: Test, order: 'host first' | 'plugin first'): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  const hostJwt = async (): Promise<void> => { await app.register(fastifyJwt, { secret: HOST_SECRET }) }
  const plugin = async (): Promise<void> => {
    await app.register(oauth2Password, { store: 'memory:', issuer: 'http://api.test', scopes: { 'orders:read': 'Read orders' }, argon2: CHEAP_ARGON2 })
  }
  if (order === 'host first') { await hostJwt(); await plugin() } else { await plugin(); await hostJwt() }
  // The host's own form parsing, as common as its own @fastify/jwt.
  await app.register(formbody)
  app.post('/host/login', async (_request, reply) => ({ token: await reply.jwtSign({ role: 'admin' }) }))
  app.get('/host/admin', async request => {
    const claims = await request.jwtVerify<{ role: string }>()
    return { role: claims.role }
  })
  app.get('/orders', { preHandler: app.authenticate, config: { scopes: ['orders:read'] } }, async request => ({ username: request.user.username }))
  await app.ready()
  return app
}

for (const order of ['host first', 'plugin first'] as const) {
  t.test(`a host's own @fastify/jwt registered ${order === 'host first' ? 'before' : 'after'} the plugin`, async t => {
    const app = await host(t, order)
    await addUser(app.authStore, 'shopper', { scopes: ['orders:read'] })
    const login = await app.inject({
      method: 'POST',
      url: '/token',
      payload: new URLSearchParams({ grant_type: 'password', username: 'shopper', password: PASSWORD }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    t.equal(login.statusCode, 200, login.body)
    const ours: string = login.json().access_token
    const theirs: string = (await app.inject({ method: 'POST', url: '/host/login' })).json().token

    const orders = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${ours}` } })
    t.equal(orders.statusCode, 200, orders.body)
    t.strictSame(orders.json(), { username: 'shopper' })
    const admin = await app.inject({ url: '/host/admin', headers: { authorization: `Bearer ${theirs}` } })
    t.equal(admin.statusCode, 200, admin.body)
    t.strictSame(admin.json(), { role: 'admin' })

    t.equal((await app.inject({ url: '/orders', headers: { authorization: `Bearer ${theirs}` } })).statusCode, 401, 'the host\'s token is no access token here')
    const crossed = await app.inject({ url: '/host/admin', headers: { authorization: `Bearer ${ours}` } })
    // @fastify/jwt answers a token of another algorithm than the host's with a 500 of its own.
    t.not(crossed.statusCode, 200, `an access token does not verify with the host's secret: ${crossed.body}`)
  })
}
