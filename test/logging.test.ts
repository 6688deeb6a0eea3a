import t from 'tap'
import { build, addUser, login, PASSWORD, token } from './helper.js'

const WRONG_PASSWORD = 'a wrong password that must never be logged'
const CLIENT_SECRET = 'client-secret-that-must-never-be-logged'

t.test('logs hold no password, token or client secret, and one audit line per login attempt', async t => {
  const { app, logs, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const disabled = await addUser(app.authStore, 'alice')
  await app.authStore.updateUser(disabled.id, { disabled: true })

  const attempts = [
    { fields: { username: 'johndoe', password: PASSWORD }, status: 200, username: 'johndoe', outcome: 'success' },
    { fields: { username: 'JohnDoe', password: WRONG_PASSWORD }, status: 400, username: 'johndoe', outcome: 'wrong_password' },
    { fields: { username: 'nobody', password: PASSWORD }, status: 400, username: 'nobody', outcome: 'unknown_user' },
    { fields: { username: 'alice', password: PASSWORD }, status: 400, username: 'alice', outcome: 'disabled' }
  ]
  const tokens: string[] = []
  const refreshTokens: string[] = []
  for (const { fields, status } of attempts) {
    const response = await token(app, { grant_type: 'password', ...fields })
    t.equal(response.statusCode, status, response.body)
    if (status === 200) {
      tokens.push(response.json().access_token)
      refreshTokens.push(response.json().refresh_token)
    }
  }

  const audit = logs().filter(line => line.audit === 'login')
  t.equal(audit.length, attempts.length, 'exactly one audit line per login attempt')
  attempts.forEach(({ username, outcome }, index) => {
    t.match(audit[index], { audit: 'login', username, clientAddress: '127.0.0.1', clientId: 'first-party', outcome }, outcome)
  })

  // Requests that carry a token or a secret, which must not reach the log either.
  tokens.push((await login(app, 'johndoe')).access_token)
  const [accessToken = ''] = tokens
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })
  t.equal(me.statusCode, 200, me.body)
  const tampered = `${accessToken.slice(0, -4)}AAAA`
  const refused = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${tampered}` } })
  t.equal(refused.statusCode, 401, refused.body)
  // Capitalised, the name is not one of Node's typed headers, so it may take the array that sends it twice.
  const twoHeaders = await app.inject({ url: '/users/me', headers: { Authorization: [`Bearer ${accessToken}`, `Bearer ${accessToken}`] } })
  t.equal(twoHeaders.statusCode, 400, twoHeaders.body)
  const refreshed = await app.inject({
    method: 'POST',
    url: '/token',
    payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshTokens[0] ?? '' }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  t.equal(refreshed.statusCode, 200, refreshed.body)
  tokens.push(refreshed.json().access_token)
  refreshTokens.push(refreshed.json().refresh_token)
  const withSecret = await token(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD, client_id: 'other', client_secret: CLIENT_SECRET })
  t.equal(withSecret.statusCode, 401, withSecret.body)
  const basic = await token(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD }, {
    authorization: `Basic ${Buffer.from(`other:${CLIENT_SECRET}`).toString('base64')}`
  })
  t.equal(basic.statusCode, 401, basic.body)

  const text = logText()
  t.ok(logs().length > attempts.length, 'the requests were logged')
  t.notOk(text.includes(PASSWORD), 'no password')
  t.notOk(text.includes(WRONG_PASSWORD), 'no wrong password')
  t.notOk(text.includes(CLIENT_SECRET), 'no client secret')
  t.notOk(text.includes(Buffer.from(`other:${CLIENT_SECRET}`).toString('base64')), 'no Basic credentials')
  for (const value of refreshTokens) {
    t.ok(value.length > 20)
    t.notOk(text.includes(value), 'no refresh token')
  }
  for (const value of [...tokens, tampered]) {
    const signature = value.split('.')[2] ?? ''
    t.ok(signature.length > 20)
    t.notOk(text.includes(value), 'no access token')
    t.notOk(text.includes(signature), 'no access token signature')
  }
})

t.test('a token or password sent in the query string is not logged with the request line', async t => {
  const { app, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: accessToken } = await login(app, 'johndoe')
  const misplaced = await app.inject({ url: `/users/me?access_token=${accessToken}&password=${encodeURIComponent(PASSWORD)}&keep=1` })
  t.equal(misplaced.statusCode, 401, 'query-string tokens are not accepted (RFC 6750 §2.3 is not offered)')
  t.notOk(logText().includes(accessToken), 'the access token is not logged')
  t.notOk(logText().includes(encodeURIComponent(PASSWORD)), 'the password is not logged')
  t.match(logText(), '/users/me?access_token=[redacted]&password=[redacted]&keep=1')
})
