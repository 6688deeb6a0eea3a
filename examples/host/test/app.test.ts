import t from 'tap'
import { build } from '../app.js'
import { TEST_ARGON2, buildApp, loginAs } from './helper.js'

t.test('the catalogue is public', async t => {
  const app = await buildApp(t)
  const response = await app.inject({ url: '/catalogue' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), [{ item: 'teapot', price: 42 }])
})

t.test('orders need a token', async t => {
  const app = await buildApp(t)
  const response = await app.inject({ url: '/orders' })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'OAUTH2_TOKEN_MISSING')
  t.equal(response.headers['www-authenticate'], 'Bearer realm="http://shop.test"')
})

t.test('a reader lists orders but cannot place one', async t => {
  const app = await buildApp(t)
  const reader = await loginAs(app, 'reader', ['orders:read'])
  const list = await app.inject({ url: '/orders', headers: reader })
  t.equal(list.statusCode, 200, list.body)
  t.same(list.json(), [])
  const place = await app.inject({ method: 'POST', url: '/orders', headers: reader, payload: { item: 'teapot' } })
  t.equal(place.statusCode, 403, place.body)
  t.equal(place.json().code, 'OAUTH2_INSUFFICIENT_SCOPE')
  t.equal(place.headers['www-authenticate'], 'Bearer realm="http://shop.test", error="insufficient_scope", scope="orders:write"')
})

t.test('a customer places an order and sees it, as the user the token names', async t => {
  const app = await buildApp(t)
  const customer = await loginAs(app, 'Customer', ['orders:read', 'orders:write'])
  const place = await app.inject({ method: 'POST', url: '/orders', headers: customer, payload: { item: 'teapot' } })
  t.equal(place.statusCode, 201, place.body)
  t.same(place.json(), { id: 1, item: 'teapot', owner: 'customer' })
  const list = await app.inject({ url: '/orders', headers: customer })
  t.same(list.json().map((order: { item: string }) => order.item), ['teapot'])
  const other = await loginAs(app, 'someone-else', ['orders:read'])
  t.same((await app.inject({ url: '/orders', headers: other })).json(), [], 'another user sees none of it')
})

t.test('the users API refuses a weak password with a code, and creates nothing', async t => {
  const app = await buildApp(t)
  const error = await app.authUsers.create({ username: 'weak', password: 'short' }).then(() => null, (error: Error & { code?: string }) => error)
  t.equal(error?.code, 'OAUTH2_PASSWORD_WEAK')
  t.equal(await app.authUsers.find('weak'), null)
})

t.test('the OpenAPI document names the token URL under the plugin\'s prefix', async t => {
  const app = await buildApp(t)
  const document = app.swagger() as {
    components: { securitySchemes: Record<string, { flows: { password: { tokenUrl: string } } }> }
    paths: Record<string, Record<string, { security?: unknown }>>
  }
  t.equal(document.components.securitySchemes.OAuth2PasswordBearer?.flows.password.tokenUrl, '/auth/token')
  t.same(document.paths['/orders']?.post?.security, [{ OAuth2PasswordBearer: ['orders:write'] }])
  t.notOk(document.paths['/catalogue']?.get?.security, 'the public route asks for nothing')
})

t.test('a store whose driver this service did not install fails to load, naming the package', async t => {
  // build() awaits the plugin's registration, where ready() would otherwise report it.
  await t.rejects(build({ store: 'postgres://shop@127.0.0.1:1/shop', issuer: 'http://shop.test', argon2: TEST_ARGON2 }), {
    code: 'OAUTH2_MISSING_DRIVER',
    message: 'oauth2-password: option "store" names a PostgreSQL database, which needs the package "pg": install it with npm install pg'
  })
})
