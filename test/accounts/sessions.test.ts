import t from 'tap'
import { build, addUser, login, refresh, me, claims, refreshTokenOf, assertInvalidToken, assertOAuthError } from '../helper.js'
import { api, assertAccountError, assertNoContent } from './helper.js'

// A user's logins: listed, ended one by one (DELETE /sessions/:id), this one (POST /logout), or
// all of them ({ "all": true }); each end reaches the login's access and refresh tokens.

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

t.test('GET /sessions lists the live logins, the current one marked, most recently used first', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await addUser(app.authStore, 'alice')
  const first = await login(app, 'johndoe')
  const second = await login(app, 'johndoe')
  await login(app, 'alice')

  const listed = await api(app, 'GET', '/sessions', { token: first.access_token })
  t.equal(listed.statusCode, 200, listed.body)
  t.equal(listed.headers['cache-control'], 'no-store')
  const sessions = listed.json()
  t.equal(sessions.length, 2, 'johndoe\'s two logins, not alice\'s')
  t.strictSame(sessions.map((session: { id: string }) => session.id).sort(), [claims(first.access_token).sid, claims(second.access_token).sid].sort())
  for (const session of sessions) {
    t.strictSame(Object.keys(session).sort(), ['client_id', 'created_at', 'current', 'id', 'last_used_at'])
    t.equal(session.client_id, 'first-party')
    t.match(session.created_at, ISO)
    t.equal(session.last_used_at, session.created_at, 'never refreshed: last used when made')
    t.equal(session.current, session.id === claims(first.access_token).sid)
  }

  await new Promise(resolve => setTimeout(resolve, 5))
  const refreshed = await refresh(app, refreshTokenOf(first))
  t.equal(refreshed.statusCode, 200)
  const after = (await api(app, 'GET', '/sessions', { token: refreshed.json().access_token })).json()
  t.equal(after[0].id, claims(first.access_token).sid, 'the refreshed login comes first')
  t.ok(after[0].last_used_at > after[0].created_at, 'its last use is the refresh')
  t.equal(after[0].current, true, 'a refreshed token belongs to the same login')
})

t.test('DELETE /sessions/:id ends that login: its access and refresh tokens stop at once', async t => {
  const { app, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const alice = await addUser(app.authStore, 'alice')
  const mine = await login(app, 'johndoe')
  const other = await login(app, 'johndoe')
  const hers = await login(app, 'alice')
  const otherId = String(claims(other.access_token).sid)

  assertNoContent(t, await api(app, 'DELETE', `/sessions/${otherId}`, { token: mine.access_token }))
  assertInvalidToken(t, await me(app, other.access_token), /revoked/)
  assertOAuthError(t, await refresh(app, refreshTokenOf(other)), 400, 'invalid_grant')
  t.equal((await me(app, mine.access_token)).statusCode, 200, 'the login that ended it lives on')
  t.strictSame((await api(app, 'GET', '/sessions', { token: mine.access_token })).json().map((session: { id: string }) => session.id), [claims(mine.access_token).sid])

  const cases = [
    { name: 'the same login again', id: otherId },
    { name: 'an unknown id', id: '00000000-0000-4000-8000-000000000000' },
    { name: 'another user\'s login', id: String(claims(hers.access_token).sid) }
  ]
  for (const { id } of cases) assertAccountError(t, await api(app, 'DELETE', `/sessions/${id}`, { token: mine.access_token }), 404, 'not_found', /no live login/)
  t.equal((await me(app, hers.access_token)).statusCode, 200, 'alice\'s login was not touched')
  t.equal((await app.authStore.listSessions(alice.id, Date.now())).length, 1)
  t.match(logText(), /"audit":"account","event":"session_ended"/)
  t.notMatch(logText(), other.access_token)
  t.notMatch(logText(), refreshTokenOf(other))
})

t.test('POST /logout ends this login; { "all": true } ends every login of the user', async t => {
  const { app, logs } = await build(t)
  const johndoe = await addUser(app.authStore, 'johndoe')
  await addUser(app.authStore, 'alice')
  const one = await login(app, 'johndoe')
  const two = await login(app, 'johndoe')
  const three = await login(app, 'johndoe')
  const hers = await login(app, 'alice')

  assertNoContent(t, await api(app, 'POST', '/logout', { token: one.access_token }))
  assertInvalidToken(t, await me(app, one.access_token), /revoked/)
  assertOAuthError(t, await refresh(app, refreshTokenOf(one)), 400, 'invalid_grant')
  t.equal((await me(app, two.access_token)).statusCode, 200, 'the other logins live on')
  assertNoContent(t, await api(app, 'POST', '/logout', { token: two.access_token, body: {} }))
  assertInvalidToken(t, await me(app, two.access_token))

  const four = await login(app, 'johndoe')
  assertNoContent(t, await api(app, 'POST', '/logout', { token: three.access_token, body: { all: true } }))
  for (const ended of [three, four]) {
    assertInvalidToken(t, await me(app, ended.access_token))
    assertOAuthError(t, await refresh(app, refreshTokenOf(ended)), 400, 'invalid_grant')
  }
  t.strictSame(await app.authStore.listSessions(johndoe.id, Date.now()), [])
  t.equal((await me(app, hers.access_token)).statusCode, 200, 'another user is not logged out')
  const fresh = await login(app, 'johndoe')
  t.equal((await me(app, fresh.access_token)).statusCode, 200, 'a login after it works')
  t.same(logs().filter(line => line.audit === 'account').map(line => line.event),
    ['session_ended', 'session_ended', 'logged_out_everywhere'])
})

t.test('the session endpoints refuse what is not a live bearer token, or a malformed body, in their format', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: token } = await login(app, 'johndoe')
  const missing = await api(app, 'GET', '/sessions')
  assertAccountError(t, missing, 401, 'invalid_token')
  t.match(missing.headers['www-authenticate'], /^Bearer realm="[^"]+"$/)
  const forged = await api(app, 'GET', '/sessions', { token: `${token}x` })
  assertAccountError(t, forged, 401, 'invalid_token')
  t.match(forged.headers['www-authenticate'], /error="invalid_token"/)
  assertAccountError(t, await api(app, 'DELETE', '/sessions/x', { headers: { authorization: 'Bearer a b' } }), 400, 'invalid_request')

  const bodies = [
    { name: 'all not a boolean', body: { all: 'yes' }, status: 400 },
    { name: 'not JSON', body: '{"all":', status: 400 },
    { name: 'a prototype key', body: '{"__proto__":{"all":true}}', status: 400 },
    { name: 'a form', body: 'all=true', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415 },
    { name: 'too large', body: JSON.stringify({ all: true, pad: 'x'.repeat(20_000) }), status: 413 }
  ]
  for (const { name, body, headers, status } of bodies) {
    assertAccountError(t, await api(app, 'POST', '/logout', { token, body, headers }), status, 'invalid_request')
    t.equal((await me(app, token)).statusCode, 200, `${name}: nothing was ended`)
  }
})

t.test('a store that does not answer: 503 temporarily_unavailable with Retry-After, in the account endpoints\' format', async t => {
  const { app } = await build(t, { REGISTRATION: 'open' })
  await addUser(app.authStore, 'johndoe')
  const { access_token: token } = await login(app, 'johndoe')
  t.equal((await me(app, token)).statusCode, 200, 'the user is known to authenticate before the store goes')
  await app.authStore.close()
  for (const [method, url, body] of [['GET', '/sessions', undefined], ['POST', '/logout', {}], ['POST', '/register', { username: 'alice', password: 'correct horse battery staple' }]] as const) {
    const response = await api(app, method, url, { token, body })
    assertAccountError(t, response, 503, 'temporarily_unavailable', /temporarily unavailable/)
    t.equal(response.headers['retry-after'], '5', `${method} ${url}`)
    t.notMatch(response.body, /closed/, 'nothing of the store\'s own message')
  }
})
