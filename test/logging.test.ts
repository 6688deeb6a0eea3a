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
    { fields: { username: 'nobody', password: PASSWORD }, status: 400, username: undefined, outcome: 'unknown_user' },
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
    t.match(audit[index], { audit: 'login', clientAddress: '127.0.0.1', clientId: 'first-party', outcome }, outcome)
    if (username !== undefined) t.equal(audit[index]?.username, username, `${outcome}: the username of a user`)
    else t.match(audit[index], { username: undefined, usernameDigest: /^[\w-]{16}$/ }, `${outcome}: a digest of what was typed, never the text`)
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

t.test('credentials anywhere in the URL are redacted by their shape, however their parameter is spelled', async t => {
  const { app, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: accessToken, refresh_token: refreshToken = '' } = await login(app, 'johndoe')
  const urls = [
    `/users/me?a[access_token]=${accessToken}`,
    `/users/me?x;access_token=${accessToken}`,
    `/users/me?access%5Ftoken=${accessToken}`,
    `/users/me?t=${refreshToken}`,
    `/users/${accessToken}/items`,
    `/users/me/${refreshToken}`,
    '/status?ACCESS_TOKEN=short&keep=1'
  ]
  for (const url of urls) await app.inject({ url })
  const text = logText()
  t.notOk(text.includes(accessToken), 'no access token')
  t.notOk(text.includes(accessToken.split('.')[2] ?? ''), 'no access token signature')
  t.notOk(text.includes(refreshToken), 'no refresh token')
  t.notOk(text.includes('short'), 'a value under a secret name, however short')
  t.match(text, '/status?ACCESS_TOKEN=[redacted]&keep=1')
  t.match(text, '/users/[redacted]/items')
  t.match(text, '/users/me?a[access_token]=[redacted]')
})

t.test('a password typed into the username field of an unknown user is not logged', async t => {
  const { app, logs, logText } = await build(t)
  const typedByMistake = 'my very secret password in the wrong field'
  for (let attempt = 0; attempt < 2; attempt++) {
    t.equal((await token(app, { grant_type: 'password', username: typedByMistake, password: 'x' })).statusCode, 400)
  }
  t.notOk(logText().includes(typedByMistake), 'not written')
  const digests = logs().filter(line => line.audit === 'login').map(line => line.usernameDigest)
  t.equal(digests.length, 2)
  t.equal(digests[0], digests[1], 'the same text gives the same digest, so repeated attempts can be told')
})

t.test('refusals of a rate-limited address are counted into one line a minute, not written each', async t => {
  const { app, logs } = await build(t)
  for (let attempt = 0; attempt < 10; attempt++) await token(app, { grant_type: 'password', username: 'nobody', password: WRONG_PASSWORD })
  for (let attempt = 0; attempt < 500; attempt++) {
    t.equal((await token(app, { grant_type: 'password', username: 'nobody', password: WRONG_PASSWORD })).statusCode, 429)
  }
  const refused = logs().filter(line => line.audit === 'login' && line.outcome === 'rate_limited')
  t.equal(refused.length, 1, 'one line for 500 refusals within a minute')
  t.match(refused[0], { clientAddress: '127.0.0.1', repeated: 0 })
  await app.close()
  const summary = logs().filter(line => line.audit === 'login' && line.outcome === 'rate_limited')
  t.equal(summary.length, 2, 'the refusals counted since are written when the server closes')
  t.match(summary[1], { clientAddress: '127.0.0.1', repeated: 499 })
})

t.test('a DPoP proof, like the Authorization header, is redacted where a log call puts the headers', async t => {
  const { app, logs, logText } = await build(t)
  const proof = 'eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiJhIn0.c2lnbmF0dXJlLW9mLWEtcHJvb2Y'
  app.log.info({ headers: { dpop: proof, authorization: `DPoP ${proof}` } }, 'headers alone')
  t.notOk(logText().includes(proof))
  t.match(logs().filter(line => line.msg === 'headers alone'), [{ headers: { dpop: '[redacted]', authorization: '[redacted]' } }])
})
