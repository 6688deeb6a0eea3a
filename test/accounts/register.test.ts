import { randomBytes } from 'node:crypto'
import t from 'tap'
import { build, freePort, token, PASSWORD } from '../helper.js'
import { loadConfig } from '../../config/index.js'
import { hashCode } from '../../accounts/codes.js'
import { api, assertAccountError, assertNoContent } from './helper.js'
import { codeIn, smtpServer } from './smtp.js'

// Registration and e-mail verification over a real SMTP server on loopback: the code is read out of
// the delivered message and brought back through HTTP, as a user would.

const FROM = 'Auth <auth@example.test>'

function login (app: Parameters<typeof token>[0], username: string, password = PASSWORD) {
  return token(app, { grant_type: 'password', username, password })
}

t.test('register → verify → log in, with EMAIL_VERIFICATION=required', async t => {
  const mailbox = await smtpServer(t)
  const { app, logText, logs } = await build(t, { REGISTRATION: 'open', EMAIL_VERIFICATION: 'required', SMTP_URL: mailbox.url, MAIL_FROM: FROM })

  const registered = await api(app, 'POST', '/register', { body: { username: 'JohnDoe', password: PASSWORD, email: 'john@example.test', full_name: 'John Doe' } })
  t.equal(registered.statusCode, 201, registered.body)
  t.equal(registered.headers['cache-control'], 'no-store')
  t.strictSame(registered.json(), { username: 'johndoe', email: 'john@example.test', full_name: 'John Doe', disabled: false, scopes: ['me', 'items'] })

  const message = await mailbox.next('john@example.test')
  t.strictSame(message.from?.value, [{ name: 'Auth', address: 'auth@example.test' }], 'from MAIL_FROM')
  t.equal(message.subject, 'Verify your e-mail address')
  t.match(message.text, /Hello johndoe,/)
  const code = codeIn(message)

  const wrong = await login(app, 'johndoe', 'not the password of john')
  t.equal(wrong.json().error_description, 'Invalid username or password', 'a wrong password says nothing of the address')
  const unverified = await login(app, 'johndoe')
  t.equal(unverified.statusCode, 400)
  t.strictSame(unverified.json(), { error: 'invalid_grant', error_description: 'The e-mail address is not verified' })

  assertNoContent(t, await api(app, 'POST', '/email/verify', { body: { code } }))
  t.equal((await app.authStore.findUserByUsername('johndoe'))?.emailVerified, true)
  const loggedIn = await login(app, 'johndoe')
  t.equal(loggedIn.statusCode, 200, loggedIn.body)
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${loggedIn.json().access_token as string}` } })
  t.equal(me.json().username, 'johndoe')

  assertAccountError(t, await api(app, 'POST', '/email/verify', { body: { code } }), 400, 'invalid_grant', /invalid, expired or used/)
  t.same(logs().filter(line => line.audit === 'account').map(line => line.event), ['registered', 'email_verified'])
  t.notMatch(logText(), code, 'no code in the log')
  t.notMatch(logText(), hashCode(code), 'nor its hash')
  t.notMatch(logText(), PASSWORD)
})

t.test('codes that verify nothing: wrong, expired, used, another user\'s, or for an address the user no longer has', async t => {
  const mailbox = await smtpServer(t)
  const { app } = await build(t, { REGISTRATION: 'open', SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  for (const username of ['alice', 'bob']) {
    t.equal((await api(app, 'POST', '/register', { body: { username, password: PASSWORD, email: `${username}@example.test` } })).statusCode, 201)
  }
  const alices = codeIn(await mailbox.next('alice@example.test'))
  const bobs = codeIn(await mailbox.next('bob@example.test'))
  const alice = await app.authStore.findUserByUsername('alice')
  const expired = randomBytes(32).toString('base64url')
  await app.authStore.createOneTimeCode({ hash: hashCode(expired), purpose: 'verify_email', userId: alice?.id ?? '', email: 'alice@example.test', createdAt: Date.now() - 2000, expiresAt: Date.now() - 1000 })
  const reset = randomBytes(32).toString('base64url')
  await app.authStore.createOneTimeCode({ hash: hashCode(reset), purpose: 'reset_password', userId: alice?.id ?? '', email: 'alice@example.test', createdAt: Date.now(), expiresAt: Date.now() + 60_000 })

  const refused = [
    { name: 'a made-up code', code: randomBytes(32).toString('base64url') },
    { name: 'an expired code', code: expired },
    { name: 'a reset code', code: reset },
    { name: 'a code with one character changed', code: `${alices.slice(0, -1)}${alices.endsWith('A') ? 'B' : 'A'}` },
    { name: 'an empty code', code: '', status: 'invalid_request' },
    { name: 'a code of 257 characters', code: 'x'.repeat(257), status: 'invalid_request' }
  ]
  for (const { name, code, status } of refused) {
    assertAccountError(t, await api(app, 'POST', '/email/verify', { body: { code } }), 400, status ?? 'invalid_grant')
    t.equal((await app.authStore.findUserByUsername('alice'))?.emailVerified, false, `${name}: alice is not verified`)
  }
  assertAccountError(t, await api(app, 'POST', '/email/verify', { body: {} }), 400, 'invalid_request')

  assertNoContent(t, await api(app, 'POST', '/email/verify', { body: { code: bobs } }))
  t.equal((await app.authStore.findUserByUsername('bob'))?.emailVerified, true, 'bob\'s code verifies bob')
  t.equal((await app.authStore.findUserByUsername('alice'))?.emailVerified, false, 'and not alice, whoever brings it')

  await app.authStore.updateUser(alice?.id ?? '', { email: 'alice@elsewhere.test' })
  assertAccountError(t, await api(app, 'POST', '/email/verify', { body: { code: alices } }), 400, 'invalid_grant')
  t.equal((await app.authStore.findUserByUsername('alice'))?.emailVerified, false, 'a code for the old address does not verify the new one')
})

t.test('registration refusals create nothing and name the rule, never the password', async t => {
  const mailbox = await smtpServer(t)
  const { app } = await build(t, { REGISTRATION: 'open', EMAIL_VERIFICATION: 'required', SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  t.equal((await api(app, 'POST', '/register', { body: { username: 'taken', password: PASSWORD, email: 'taken@example.test' } })).statusCode, 201)
  const cases = [
    { name: 'a blocklisted password', body: { username: 'carol', password: '1234567890Qwerty', email: 'c@example.test' }, status: 400, error: 'weak_password', description: /list of common passwords/ },
    { name: 'a short password', body: { username: 'carol', password: 'short', email: 'c@example.test' }, status: 400, error: 'weak_password', description: /at least 15/ },
    { name: 'a username with a space', body: { username: 'car ol', password: PASSWORD, email: 'c@example.test' }, status: 400, error: 'invalid_username', description: /white space/ },
    { name: 'a taken username, in another case', body: { username: 'TAKEN', password: PASSWORD, email: 'c@example.test' }, status: 409, error: 'username_taken', description: /exists already/ },
    { name: 'no e-mail address while verification is required', body: { username: 'carol', password: PASSWORD }, status: 400, error: 'invalid_request', description: /e-mail address is required/ },
    { name: 'an e-mail address that is none', body: { username: 'carol', password: PASSWORD, email: 'not an address' }, status: 400, error: 'invalid_request', description: /email/ },
    { name: 'a control character in the name', body: { username: 'carol', password: PASSWORD, email: 'c@example.test', full_name: 'Carol\u0007' }, status: 400, error: 'invalid_request', description: /control characters/ },
    { name: 'no password', body: { username: 'carol', email: 'c@example.test' }, status: 400, error: 'invalid_request', description: /password/ }
  ]
  for (const { name, body, status, error, description } of cases) {
    const response = await api(app, 'POST', '/register', { body })
    assertAccountError(t, response, status, error, description)
    t.notMatch(response.body, '1234567890Qwerty', `${name}: no password in the answer`)
  }
  t.strictSame((await app.authStore.listUsers()).map(user => user.username), ['taken'], 'no refusal created a user')
  t.equal(mailbox.messages.length, 1, 'nor sent a message')
})

t.test('an SMTP server that refuses the message, or does not answer: 503, and no account is left behind', async t => {
  const mailbox = await smtpServer(t)
  const { app, logText } = await build(t, { REGISTRATION: 'open', SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  mailbox.refuse(true)
  const refused = await api(app, 'POST', '/register', { body: { username: 'johndoe', password: PASSWORD, email: 'john@example.test' } })
  assertAccountError(t, refused, 503, 'temporarily_unavailable')
  t.equal(refused.headers['retry-after'], '5')
  t.equal(await app.authStore.findUserByUsername('johndoe'), null, 'the account was undone')
  t.match(logText(), /registration undone/)
  mailbox.refuse(false)
  t.equal((await api(app, 'POST', '/register', { body: { username: 'johndoe', password: PASSWORD, email: 'john@example.test' } })).statusCode, 201, 'the username is free again')

  const down = await build(t, { REGISTRATION: 'open', SMTP_URL: `smtp://127.0.0.1:${await freePort()}`, MAIL_FROM: FROM })
  const unreachable = await api(down.app, 'POST', '/register', { body: { username: 'alice', password: PASSWORD, email: 'alice@example.test' } })
  assertAccountError(t, unreachable, 503, 'temporarily_unavailable')
  t.equal(await down.app.authStore.findUserByUsername('alice'), null)
})

t.test('registrations from one address are limited', async t => {
  const { app } = await build(t, { REGISTRATION: 'open' })
  for (let index = 1; index <= 10; index++) {
    t.equal((await api(app, 'POST', '/register', { body: { username: `user${index}`, password: PASSWORD } })).statusCode, 201, `registration ${index}`)
  }
  const limited = await api(app, 'POST', '/register', { body: { username: 'user11', password: PASSWORD } })
  assertAccountError(t, limited, 429, 'invalid_request')
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.equal(await app.authStore.findUserByUsername('user11'), null)
  const other = await app.inject({ method: 'POST', url: '/register', remoteAddress: '192.0.2.7', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'user12', password: PASSWORD }) })
  t.equal(other.statusCode, 201, 'another address is counted apart')
})

t.test('resending a verification code: 202 whatever the input; only an unverified account gets one, a few at most', async t => {
  const mailbox = await smtpServer(t)
  const { app, logText } = await build(t, { REGISTRATION: 'open', SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  t.equal((await api(app, 'POST', '/register', { body: { username: 'alice', password: PASSWORD, email: 'alice@example.test' } })).statusCode, 201)
  codeIn(await mailbox.next('alice@example.test'))
  for (const body of [{ username: 'nobody' }, { email: 'nobody@example.test' }, { username: 'a b' }, { username: 'alice' }, { email: 'ALICE@example.test' }]) {
    const response = await api(app, 'POST', '/email/verify/resend', { body })
    t.equal(response.statusCode, 202, JSON.stringify(body))
    t.strictSame(response.json(), {})
  }
  const first = codeIn(await mailbox.next('alice@example.test'))
  const second = codeIn(await mailbox.next('alice@example.test'))
  t.not(first, second)
  assertAccountError(t, await api(app, 'POST', '/email/verify/resend', { body: { username: 'alice', email: 'alice@example.test' } }), 400, 'invalid_request')
  assertNoContent(t, await api(app, 'POST', '/email/verify', { body: { code: first } }))
  assertAccountError(t, await api(app, 'POST', '/email/verify', { body: { code: second } }), 400, 'invalid_grant', /used/)
  t.match(logText(), /"event":"verification_sent"/)

  // Two codes went out on request so far; the third is the last one an account gets in a window.
  await app.authStore.updateUser((await app.authStore.findUserByUsername('alice'))?.id ?? '', { emailVerified: false })
  for (let index = 0; index < 3; index++) t.equal((await api(app, 'POST', '/email/verify/resend', { body: { username: 'alice' } })).statusCode, 202)
  // Ten requests from this address so far, counted whatever they named; another address is counted apart.
  for (let index = 0; index < 2; index++) t.equal((await api(app, 'POST', '/email/verify/resend', { body: { username: 'nobody' } })).statusCode, 202)
  t.equal((await app.inject({ method: 'POST', url: '/email/verify/resend', remoteAddress: '192.0.2.9', headers: { 'content-type': 'application/json' }, payload: '{"username":"nobody"}' })).statusCode, 202)
  const limited = await api(app, 'POST', '/email/verify/resend', { body: { username: 'alice' } })
  assertAccountError(t, limited, 429, 'invalid_request')
  t.match(limited.headers['retry-after'], /^\d+$/)
  await app.close()
  t.equal(mailbox.messages.length, 4, 'the registration\'s code, and three on request')
})

t.test('without SMTP_URL the mail endpoints are not there, and the start-up log says so; without REGISTRATION=open, /register', async t => {
  const { app, logText } = await build(t)
  for (const url of ['/register', '/email/verify', '/email/verify/resend']) {
    t.equal((await api(app, 'POST', url, { body: { code: 'x' } })).statusCode, 404, url)
  }
  t.match(logText(), /account e-mail is off \(no SMTP server configured\)/)
  t.throws(() => loadConfig({ EMAIL_VERIFICATION: 'required' }), { message: 'Invalid configuration: EMAIL_VERIFICATION=required needs SMTP_URL: the codes that verify addresses go out by e-mail' })
  t.throws(() => loadConfig({ SMTP_URL: 'smtp://127.0.0.1:25' }), { message: 'Invalid configuration: MAIL_FROM must be set together with SMTP_URL' })
  t.throws(() => loadConfig({ SMTP_URL: 'http://user:hunter2@mail', MAIL_FROM: FROM }), { message: 'Invalid configuration: SMTP_URL must be an smtp:// or smtps:// URL' })
  t.throws(() => loadConfig({ REGISTRATION: 'yes' }), { message: 'Invalid configuration: REGISTRATION must be open or closed; received "yes"' })
})
