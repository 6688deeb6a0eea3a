import t from 'tap'
import { build, addUser, login } from '../helper.js'

const preflight = {
  method: 'OPTIONS' as const,
  url: '/users/me',
  headers: { 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' }
}

t.test('CORS is off by default: no browser origin is allowed', async t => {
  const { app } = await build(t)
  const response = await app.inject({ ...preflight, headers: { ...preflight.headers, origin: 'https://app.example.com' } })
  t.equal(response.headers['access-control-allow-origin'], undefined)
})

t.test('CORS_ORIGINS allows exactly the listed origins, without credentials', async t => {
  const { app } = await build(t, { CORS_ORIGINS: 'https://app.example.com,http://localhost:5173' })
  const allowed = await app.inject({ ...preflight, headers: { ...preflight.headers, origin: 'https://app.example.com' } })
  t.equal(allowed.statusCode, 204)
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(allowed.headers['access-control-allow-headers']), /authorization/i)
  t.match(String(allowed.headers['access-control-allow-headers']), /\bdpop\b/i, 'a browser client may send DPoP proofs')
  t.equal(allowed.headers['access-control-allow-credentials'], undefined)
  const other = await app.inject({ ...preflight, headers: { ...preflight.headers, origin: 'https://evil.example.com' } })
  t.equal(other.headers['access-control-allow-origin'], undefined)

  await addUser(app.authStore, 'johndoe')
  const { access_token: token } = await login(app, 'johndoe')
  const me = await app.inject({ url: '/users/me', headers: { origin: 'http://localhost:5173', authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  t.equal(me.headers['access-control-allow-origin'], 'http://localhost:5173')
})

t.test('whatever carries or concerns a token is not cached, and no framework banner is sent', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: token } = await login(app, 'johndoe')
  const responses = {
    'a protected route': await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } }),
    'a refusal of a missing token': await app.inject({ url: '/users/me' }),
    'a refusal of a bad token': await app.inject({ url: '/status', headers: { authorization: 'Bearer abc' } }),
    'the token endpoint': await app.inject({ method: 'POST', url: '/token', payload: 'grant_type=password', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  }
  for (const [name, response] of Object.entries(responses)) {
    t.equal(response.headers['cache-control'], 'no-store', name)
    t.equal(response.headers['x-powered-by'], undefined, name)
    t.equal(response.headers.server, undefined, name)
  }
})
