import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, addUser, login, refresh, claims, refreshTokenOf, sign, assertOAuthError } from '../helper.js'
import { hashClientSecret } from '../../clients/secrets.js'
import { generateSigningKey } from '../../tokens/keys.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const ISSUER = 'http://127.0.0.1:3000'
const RESOURCE_SERVER = 'resource-server'
const SECRET = 'secret of the resource server'
const BASIC = `Basic ${Buffer.from(`${RESOURCE_SERVER}:${SECRET.replaceAll(' ', '+')}`).toString('base64')}`

/** POSTs a form body to /introspect, as the resource server via Basic unless `headers` says otherwise. */
async function introspect (
  app: FastifyInstance,
  fields: Record<string, string>,
  headers: Record<string, string> = { authorization: BASIC }
): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/introspect', payload: new URLSearchParams(fields).toString(), headers: { ...FORM, ...headers } })
}

/** 200, never cached, JSON. */
function assertIntrospection (t: Test, response: LightMyRequestResponse): Record<string, unknown> {
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  t.equal(response.headers.pragma, 'no-cache')
  t.match(response.headers['content-type'], /^application\/json/)
  return response.json()
}

async function setup (t: Test): Promise<FastifyInstance> {
  const { app } = await build(t)
  const createdAt = Date.now()
  await app.authStore.createClient({ id: RESOURCE_SERVER, secretHash: hashClientSecret(SECRET), scopes: ['me', 'items'], createdAt })
  await app.authStore.createClient({ id: 'public-app', secretHash: null, scopes: ['me', 'items'], createdAt })
  return app
}

t.test('live tokens (RFC 7662 §2.2)', async t => {
  const app = await setup(t)
  const user = await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe', { scope: 'me' })

  t.test('an access token', async t => {
    const body = assertIntrospection(t, await introspect(app, { token: logged.access_token }))
    const jwt = claims(logged.access_token)
    t.same(Object.keys(body).sort(), ['active', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub', 'token_type', 'username'])
    t.match(body, {
      active: true,
      scope: 'me',
      client_id: 'first-party',
      username: 'johndoe',
      sub: user.id,
      iss: ISSUER,
      aud: ISSUER,
      jti: jwt.jti,
      iat: jwt.iat,
      exp: jwt.exp
    })
    t.equal(body.active, true)
    t.match(body.token_type, /^bearer$/i)
  })

  t.test('an access token, with a token_type_hint that says otherwise', async t => {
    const body = assertIntrospection(t, await introspect(app, { token: logged.access_token, token_type_hint: 'refresh_token' }))
    t.equal(body.active, true)
    t.equal(body.jti, claims(logged.access_token).jti)
  })

  t.test('a refresh token', async t => {
    const before = Math.floor(Date.now() / 1000)
    const body = assertIntrospection(t, await introspect(app, { token: refreshTokenOf(logged), token_type_hint: 'refresh_token' }))
    t.match(body, { active: true, token_type: 'refresh_token', scope: 'me', client_id: 'first-party', username: 'johndoe', sub: user.id })
    t.equal(body.active, true)
    t.type(body.exp, 'number')
    t.ok((body.exp as number) > before, 'expires in the future')
    t.notOk('jti' in body, 'a refresh token has no jti')
  })

  t.test('the body authenticates the client too (client_secret_post)', async t => {
    const body = assertIntrospection(t, await introspect(app, { token: logged.access_token, client_id: RESOURCE_SERVER, client_secret: SECRET }, {}))
    t.equal(body.active, true)
  })
})

t.test('tokens that are not live: exactly { active: false }', async t => {
  const app = await setup(t)
  await addUser(app.authStore, 'johndoe')
  const disabled = await addUser(app.authStore, 'disabled')
  const changed = await addUser(app.authStore, 'changed')
  const logged = await login(app, 'johndoe')
  const [key] = await app.authStore.listSigningKeys()
  if (key === undefined) throw new Error('no signing key')
  const payload = claims(logged.access_token)
  const now = Math.floor(Date.now() / 1000)

  const revoked = await login(app, 'johndoe')
  await app.inject({ method: 'POST', url: '/revoke', payload: `token=${revoked.access_token}`, headers: FORM })
  const revokedFamily = refreshTokenOf(await login(app, 'johndoe'))
  await app.inject({ method: 'POST', url: '/revoke', payload: `token=${revokedFamily}`, headers: FORM })
  const spent = refreshTokenOf(await login(app, 'johndoe'))
  t.equal((await refresh(app, spent)).statusCode, 200)
  const ofDisabled = await login(app, 'disabled')
  await app.authStore.updateUser(disabled.id, { disabled: true })
  const ofChanged = await login(app, 'changed')
  await app.authStore.updateUser(changed.id, { revokeTokens: true })

  const cases = [
    { name: 'an expired access token', token: sign(key, { ...payload, iat: now - 2000, exp: now - 1000 }) },
    { name: 'a revoked access token', token: revoked.access_token },
    { name: 'a refresh token of a revoked family', token: revokedFamily },
    { name: 'a spent refresh token', token: spent },
    { name: 'an unknown refresh token', token: 'A'.repeat(43) },
    { name: 'garbage', token: 'garbage' },
    { name: 'a malformed JWT', token: 'e30.e30.e30' },
    { name: 'a JWT with a broken signature', token: logged.access_token.slice(0, -4) + 'AAAA' },
    { name: 'a JWT signed by an unknown key', token: sign(generateSigningKey('ES256'), payload) },
    { name: 'a JWT for another audience', token: sign(key, { ...payload, aud: 'https://elsewhere.example' }) },
    { name: 'an access token of a disabled user', token: ofDisabled.access_token },
    { name: 'a refresh token of a disabled user', token: refreshTokenOf(ofDisabled) },
    { name: 'an access token from before a password change', token: ofChanged.access_token },
    { name: 'a refresh token from before a password change', token: refreshTokenOf(ofChanged) }
  ]
  for (const { name, token } of cases) {
    t.test(name, async t => {
      const body = assertIntrospection(t, await introspect(app, { token }))
      t.strictSame(body, { active: false })
    })
  }
  t.test('the live token beside them is active', async t => {
    t.equal(assertIntrospection(t, await introspect(app, { token: logged.access_token })).active, true)
  })
})

t.test('only confidential clients may introspect', async t => {
  const app = await setup(t)
  await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe')

  const cases: Array<{ name: string, fields?: Record<string, string>, headers: Record<string, string>, basic: boolean }> = [
    { name: 'no client', headers: {}, basic: false },
    { name: 'Basic Og== (no client)', headers: { authorization: 'Basic Og==' }, basic: false },
    { name: 'first-party by name', fields: { client_id: 'first-party' }, headers: {}, basic: false },
    { name: 'a public client', fields: { client_id: 'public-app' }, headers: {}, basic: false },
    { name: 'a public client via Basic', headers: { authorization: `Basic ${Buffer.from('public-app:').toString('base64')}` }, basic: true },
    { name: 'a wrong secret via Basic', headers: { authorization: `Basic ${Buffer.from(`${RESOURCE_SERVER}:wrong`).toString('base64')}` }, basic: true },
    { name: 'a wrong secret via the body', fields: { client_id: RESOURCE_SERVER, client_secret: 'wrong' }, headers: {}, basic: false },
    { name: 'an unknown client', fields: { client_id: 'nobody', client_secret: SECRET }, headers: {}, basic: false }
  ]
  for (const { name, fields, headers, basic } of cases) {
    t.test(name, async t => {
      const response = await introspect(app, { token: logged.access_token, ...fields }, headers)
      assertOAuthError(t, response, 401, 'invalid_client')
      if (basic) t.match(response.headers['www-authenticate'], /^Basic /)
      else t.equal(response.headers['www-authenticate'], undefined)
    })
  }
  t.test('missing token', async t => {
    assertOAuthError(t, await introspect(app, {}), 400, 'invalid_request')
  })
})
