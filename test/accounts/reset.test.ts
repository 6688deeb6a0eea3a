import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import oauth2Password from '../../plugins/auth.js'
import { hashCode } from '../../accounts/codes.js'
import { build, addUser, login, refresh, me, refreshTokenOf, assertInvalidToken, assertOAuthError, token, PASSWORD, CHEAP_ARGON2 } from '../helper.js'
import { api, assertAccountError, assertNoContent } from './helper.js'
import { codeIn, smtpServer } from './smtp.js'

// A forgotten password: POST /password/forgot mails a code (202 whatever the input, as fast for an
// unknown user as for a known one), POST /password/reset spends it, sets the password and ends
// every login of the user.

const FROM = 'Auth <auth@example.test>'
const NEW_PASSWORD = 'a new passphrase after forgetting'

t.test('forgot → reset → old tokens refused → log in with the new password', async t => {
  const mailbox = await smtpServer(t)
  const { app, logs, logText } = await build(t, { SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  await addUser(app.authStore, 'johndoe', { email: 'john@example.test' })
  const before = await login(app, 'johndoe')
  const another = await login(app, 'johndoe')

  const forgot = await api(app, 'POST', '/password/forgot', { body: { username: 'JohnDoe' } })
  t.equal(forgot.statusCode, 202)
  t.strictSame(forgot.json(), {})
  t.equal(forgot.headers['cache-control'], 'no-store')
  const message = await mailbox.next('john@example.test')
  t.equal(message.subject, 'Reset your password')
  t.match(message.text, /for 30 minutes/)
  const code = codeIn(message)
  t.equal((await me(app, before.access_token)).statusCode, 200, 'asking for a code ends nothing')

  assertNoContent(t, await api(app, 'POST', '/password/reset', { body: { code, password: NEW_PASSWORD } }))
  for (const ended of [before, another]) {
    assertInvalidToken(t, await me(app, ended.access_token), /change of password/)
    assertOAuthError(t, await refresh(app, refreshTokenOf(ended)), 400, 'invalid_grant')
  }
  assertOAuthError(t, await token(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD }), 400, 'invalid_grant')
  t.equal((await token(app, { grant_type: 'password', username: 'johndoe', password: NEW_PASSWORD })).statusCode, 200)
  t.equal((await app.authStore.findUserByUsername('johndoe'))?.emailVerified, true, 'the code proved the address')

  assertAccountError(t, await api(app, 'POST', '/password/reset', { body: { code, password: 'yet another passphrase, third' } }), 400, 'invalid_grant', /used/)
  t.same(logs().filter(line => line.audit === 'account').map(line => line.event), ['reset_requested', 'password_reset'])
  for (const secret of [code, hashCode(code), PASSWORD, NEW_PASSWORD]) t.notMatch(logText(), secret)
})

t.test('codes that reset nothing, and passwords the policy refuses, change nothing', async t => {
  const mailbox = await smtpServer(t)
  const { app } = await build(t, { SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  const alice = await addUser(app.authStore, 'alice', { email: 'alice@example.test' })
  const bob = await addUser(app.authStore, 'bob', { email: 'bob@example.test' })
  for (const username of ['alice', 'bob']) t.equal((await api(app, 'POST', '/password/forgot', { body: { username } })).statusCode, 202)
  const alices = codeIn(await mailbox.next('alice@example.test'))
  const bobs = codeIn(await mailbox.next('bob@example.test'))
  const code = async (purpose: 'reset_password' | 'verify_email', expiresAt: number): Promise<string> => {
    const value = randomBytes(32).toString('base64url')
    await app.authStore.createOneTimeCode({ hash: hashCode(value), purpose, userId: alice.id, email: 'alice@example.test', createdAt: Date.now() - 1000, expiresAt })
    return value
  }
  const cases = [
    { name: 'a made-up code', code: randomBytes(32).toString('base64url'), error: 'invalid_grant' },
    { name: 'an expired code', code: await code('reset_password', Date.now() - 1), error: 'invalid_grant' },
    { name: 'a verification code', code: await code('verify_email', Date.now() + 60_000), error: 'invalid_grant' },
    { name: 'a good code with a blocklisted password', code: alices, password: '1qaz2wsx3edc4rfv', error: 'weak_password' },
    { name: 'a good code with a short password', code: alices, password: 'too short', error: 'weak_password' },
    { name: 'no password', code: alices, password: null, error: 'invalid_request' }
  ]
  for (const { name, code, password, error } of cases) {
    const body = password === null ? { code } : { code, password: password ?? NEW_PASSWORD }
    const response = await api(app, 'POST', '/password/reset', { body })
    assertAccountError(t, response, 400, error)
    t.notMatch(response.body, '1qaz2wsx3edc4rfv', `${name}: no password in the answer`)
    t.equal((await app.authStore.findUserById(alice.id))?.tokenVersion, 0, `${name}: alice is as she was`)
  }
  await login(app, 'alice')

  // Bob's code resets bob, whoever brings it; and a code for an address the user left works no more.
  assertNoContent(t, await api(app, 'POST', '/password/reset', { body: { code: bobs, password: NEW_PASSWORD } }))
  t.equal((await app.authStore.findUserById(bob.id))?.tokenVersion, 1)
  t.equal((await app.authStore.findUserById(alice.id))?.tokenVersion, 0)
  await app.authStore.updateUser(alice.id, { email: 'alice@elsewhere.test' })
  assertAccountError(t, await api(app, 'POST', '/password/reset', { body: { code: alices, password: NEW_PASSWORD } }), 400, 'invalid_grant')
  await login(app, 'alice')
})

t.test('forgot answers 202 to anything well formed, mails only a known, enabled account with an address, a few times at most', async t => {
  const mailbox = await smtpServer(t)
  const { app } = await build(t, { SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  await addUser(app.authStore, 'alice', { email: 'Alice@Example.test' })
  await addUser(app.authStore, 'noaddress')
  const disabled = await addUser(app.authStore, 'carol', { email: 'carol@example.test' })
  await app.authStore.updateUser(disabled.id, { disabled: true })
  const bodies = [{ username: 'nobody' }, { email: 'nobody@example.test' }, { username: 'a b' }, { username: 'noaddress' }, { username: 'carol' }, { email: 'alice@example.test' }, { username: 'alice' }, { username: 'ALICE' }, { username: 'alice' }]
  for (const body of bodies) {
    const response = await api(app, 'POST', '/password/forgot', { body })
    t.equal(response.statusCode, 202, JSON.stringify(body))
    t.strictSame(response.json(), {})
  }
  for (const body of [{}, { username: 'alice', email: 'alice@example.test' }, { username: '' }, { email: 'no address' }]) {
    assertAccountError(t, await api(app, 'POST', '/password/forgot', { body }), 400, 'invalid_request')
  }
  // Nine counted so far (the malformed ones were refused before counting): the tenth is the last.
  t.equal((await api(app, 'POST', '/password/forgot', { body: { username: 'nobody' } })).statusCode, 202)
  const limited = await api(app, 'POST', '/password/forgot', { body: { username: 'alice' } })
  assertAccountError(t, limited, 429, 'invalid_request')
  t.match(limited.headers['retry-after'], /^\d+$/)
  await app.close()
  t.strictSame(mailbox.messages.map(message => message.subject), ['Reset your password', 'Reset your password', 'Reset your password'], 'three codes to alice, none to anyone else')
})

/** The median of the numbers. */
function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[sorted.length >> 1] ?? NaN
}

t.test('forgot takes as long for an unknown user as for a known one', async t => {
  const mailbox = await smtpServer(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(oauth2Password, {
    store: 'memory:',
    issuer: 'http://127.0.0.1:3000',
    scopes: {},
    argon2: CHEAP_ARGON2,
    mail: { url: mailbox.url, from: FROM },
    accountLimits: { mail: 1000, mailsPerUser: 1000 }
  })
  await app.authUsers.create({ username: 'johndoe', password: PASSWORD, email: 'john@example.test' })
  const timed = async (body: Record<string, string>): Promise<number> => {
    const start = process.hrtime.bigint()
    const response = await api(app, 'POST', '/password/forgot', { body })
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    t.equal(response.statusCode, 202)
    return ms
  }
  const known: number[] = []
  const unknown: number[] = []
  const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 5)) }
  // Interleaved, in alternating order, and each known request's mail awaited outside the timing,
  // so that neither kind is timed while the other's background work runs.
  for (let round = 0; round < 60; round++) {
    for (const kind of round % 2 === 0 ? ['known', 'unknown'] : ['unknown', 'known']) {
      if (kind === 'known') {
        known.push(await timed({ username: 'johndoe' }))
        await mailbox.next('john@example.test')
      } else {
        unknown.push(await timed({ username: `nobody${round}` }))
      }
      await settle()
    }
  }
  const ratio = median(known) / median(unknown)
  // The answer is written before anything depends on the user; on a loaded machine either median may wander.
  t.ok(ratio > 0.5 && ratio < 2, `medians: known ${median(known).toFixed(3)} ms, unknown ${median(unknown).toFixed(3)} ms, ratio ${ratio.toFixed(2)}`)
})

t.test('an SMTP server that refuses the reset mail: still 202, the failure logged, and no code that works', async t => {
  const mailbox = await smtpServer(t)
  const { app, logText } = await build(t, { SMTP_URL: mailbox.url, MAIL_FROM: FROM })
  const alice = await addUser(app.authStore, 'alice', { email: 'alice@example.test' })
  mailbox.refuse(true)
  t.equal((await api(app, 'POST', '/password/forgot', { body: { username: 'alice' } })).statusCode, 202)
  const deadline = Date.now() + 15_000
  while (!logText().includes('"event":"reset_requested_failed"') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.match(logText(), /"event":"reset_requested_failed"/)
  t.equal(mailbox.messages.length, 0)
  t.equal((await app.authStore.findUserById(alice.id))?.tokenVersion, 0, 'nothing changed')
})
