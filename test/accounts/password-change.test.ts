import t from 'tap'
import { build, addUser, login, refresh, me, refreshTokenOf, assertInvalidToken, assertOAuthError, token, PASSWORD } from '../helper.js'
import { api, assertAccountError, assertNoContent } from './helper.js'

// POST /password/change: with the current password and a live access token. The new password
// meets the password policy; the change ends every other login, and this one keeps its family.

const NEW_PASSWORD = 'a fresh passphrase for john'

t.test('a change ends the other logins; this one refreshes into a new access token', async t => {
  const { app, logText, logs } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await addUser(app.authStore, 'alice')
  const current = await login(app, 'johndoe')
  const other = await login(app, 'johndoe')
  const hers = await login(app, 'alice')

  assertNoContent(t, await api(app, 'POST', '/password/change', {
    token: current.access_token,
    body: { current_password: PASSWORD, new_password: NEW_PASSWORD }
  }))
  assertInvalidToken(t, await me(app, other.access_token), /change of password/)
  assertOAuthError(t, await refresh(app, refreshTokenOf(other)), 400, 'invalid_grant')
  assertInvalidToken(t, await me(app, current.access_token), /change of password/)
  const renewed = await refresh(app, refreshTokenOf(current))
  t.equal(renewed.statusCode, 200, 'this login\'s refresh token still works')
  t.equal((await me(app, renewed.json().access_token)).statusCode, 200, 'and its new access token too')
  const sessions = (await api(app, 'GET', '/sessions', { token: renewed.json().access_token })).json()
  t.equal(sessions.length, 1, 'this login is the only one left')
  t.equal(sessions[0].current, true)
  t.equal((await me(app, hers.access_token)).statusCode, 200, 'another user is untouched')

  assertOAuthError(t, await token(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD }), 400, 'invalid_grant')
  t.equal((await token(app, { grant_type: 'password', username: 'johndoe', password: NEW_PASSWORD })).statusCode, 200, 'the new password logs in')
  t.same(logs().filter(line => line.audit === 'account').map(line => line.event), ['password_changed'])
  t.notMatch(logText(), PASSWORD)
  t.notMatch(logText(), NEW_PASSWORD)
})

t.test('refusals change nothing: a wrong current password, a new one the policy refuses, a bad body', async t => {
  const { app, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: accessToken } = await login(app, 'johndoe')
  const cases = [
    { name: 'a wrong current password', body: { current_password: 'not the password at all', new_password: NEW_PASSWORD }, status: 400, error: 'invalid_grant', description: /current password is wrong/ },
    { name: 'a short new password', body: { current_password: PASSWORD, new_password: 'short one' }, status: 400, error: 'weak_password', description: /^password must be at least 15 characters$/ },
    { name: 'a common new password', body: { current_password: PASSWORD, new_password: '1234567890Qwerty' }, status: 400, error: 'weak_password', description: /list of common passwords/ },
    { name: 'a new password of 1025 characters', body: { current_password: PASSWORD, new_password: 'x'.repeat(1025) }, status: 400, error: 'invalid_request', description: /new_password/ },
    { name: 'no current password', body: { new_password: NEW_PASSWORD }, status: 400, error: 'invalid_request', description: /current_password/ },
    { name: 'no body', body: undefined, status: 400, error: 'invalid_request' }
  ]
  for (const { name, body, status, error, description } of cases) {
    const response = await api(app, 'POST', '/password/change', { token: accessToken, body })
    assertAccountError(t, response, status, error, description)
    t.notMatch(response.body, '1234567890Qwerty', `${name}: the password is not repeated`)
    t.equal((await me(app, accessToken)).statusCode, 200, `${name}: the login lives on`)
  }
  t.equal((await token(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD })).statusCode, 200, 'the password is unchanged')
  t.notMatch(logText(), 'not the password at all')
  t.match(logText(), /"event":"password_change_refused"/)

  const unauthenticated = await api(app, 'POST', '/password/change', { body: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
  assertAccountError(t, unauthenticated, 401, 'invalid_token')
})

t.test('wrong current passwords count as failed logins: the tenth in a row is the last one checked', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: accessToken } = await login(app, 'johndoe')
  const wrong = { current_password: 'not the password at all', new_password: NEW_PASSWORD }
  for (let attempt = 1; attempt <= 10; attempt++) {
    assertAccountError(t, await api(app, 'POST', '/password/change', { token: accessToken, body: wrong }), 400, 'invalid_grant')
  }
  const limited = await api(app, 'POST', '/password/change', { token: accessToken, body: { ...wrong, current_password: PASSWORD } })
  assertAccountError(t, limited, 429, 'invalid_request')
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.equal((await token(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD })).statusCode, 429, 'the login limit is the same one')
})
