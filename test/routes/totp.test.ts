import { join } from 'node:path'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import oauth2Password from '../../plugins/auth.js'
import { CHEAP_ARGON2, PASSWORD, addUser, assertOAuthError, build, login, refresh, refreshTokenOf, token } from '../helper.js'
import { findTraces } from '../key-traces.js'
import { POSTGRES_URL, freshSchema, withPostgres } from '../integration/helper.js'
import { awayFromStepEdge, codeAt, secretOf, stepAt } from '../totp-codes.js'

// The second factor over HTTP (SPEC §15): enrollment through POST /totp/enroll and /totp/confirm,
// the password grant's `totp` parameter, DELETE /totp. Codes are computed by test/totp-codes.ts,
// independently of the server's otpauth. On every store.

const SECRET = 'vK8pQ2wX5zR9tY3nB6mC1jH4gF7dS0aL'
const CODE_REQUIRED = 'A one-time code is required'
const RECOVERY_CODE = /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/

interface Backend {
  name: string
  env: (t: Test) => Record<string, string>
  skip: string | false
}

const BACKENDS: Backend[] = [
  { name: 'memory', env: () => ({}), skip: false },
  { name: 'SQLite', env: t => ({ DATABASE_URL: `sqlite:${join(t.testdir(), 'auth.db')}` }), skip: false },
  {
    name: 'PostgreSQL',
    env: t => ({ DATABASE_URL: freshSchema(t, 'totp_routes_').url }),
    skip: POSTGRES_URL === '' ? 'TEST_POSTGRES_URL is not set' : false
  }
]

async function json (app: FastifyInstance, method: 'POST' | 'DELETE', url: string, accessToken: string, body?: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: { authorization: `Bearer ${accessToken}` }, ...(body !== undefined && { payload: body as Record<string, unknown> }) })
}

/** A password login of `username`, with `code` as the `totp` parameter when given. */
async function passwordLogin (app: FastifyInstance, username: string, code?: string, remoteAddress?: string): Promise<LightMyRequestResponse> {
  const fields = { grant_type: 'password', username, password: PASSWORD, ...(code !== undefined && { totp: code }) }
  if (remoteAddress === undefined) return await token(app, fields)
  return await app.inject({
    method: 'POST', url: '/token', remoteAddress, payload: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
}

function assertRefused (t: Test, response: LightMyRequestResponse, description: string | RegExp): void {
  assertOAuthError(t, response, 400, 'invalid_grant')
  t.match(response.json().error_description, description)
}

/** Enrolls `username` through HTTP, confirming with the code of the current step: the secret, the recovery codes, and the step used. */
async function enrollOverHttp (t: Test, app: FastifyInstance, username: string): Promise<{ secret: string, recoveryCodes: string[], step: number, accessToken: string }> {
  const accessToken = (await login(app, username)).access_token
  const started = await json(app, 'POST', '/totp/enroll', accessToken)
  t.equal(started.statusCode, 200, started.body)
  const { secret, otpauth_uri: uri } = started.json()
  t.equal(secretOf(uri), secret, 'the URI carries the secret')
  const step = stepAt(Date.now())
  const confirmed = await json(app, 'POST', '/totp/confirm', accessToken, { code: codeAt(secret, step) })
  t.equal(confirmed.statusCode, 200, confirmed.body)
  return { secret, recoveryCodes: confirmed.json().recovery_codes, step, accessToken }
}

for (const backend of BACKENDS) {
  t.test(`on ${backend.name}`, { skip: backend.skip }, async t => {
    t.test('enrolled through HTTP, a password login needs a code of its own step or one step off, each once, or a recovery code once', async t => {
      const { app, logText } = await build(t, backend.env(t))
      await addUser(app.authStore, 'alice')
      await awayFromStepEdge()
      const accessToken = (await login(app, 'alice')).access_token

      const started = await json(app, 'POST', '/totp/enroll', accessToken)
      t.equal(started.statusCode, 200, started.body)
      t.equal(started.headers['cache-control'], 'no-store')
      t.equal(started.headers.pragma, 'no-cache')
      const { secret, otpauth_uri: uri } = started.json()
      t.match(secret, /^[A-Z2-7]{32}$/)
      t.match(uri, /^otpauth:\/\/totp\/127\.0\.0\.1:alice\?/)
      t.strictSame(Object.fromEntries(new URL(uri).searchParams), { issuer: '127.0.0.1', secret, algorithm: 'SHA1', digits: '6', period: '30' })
      t.equal((await passwordLogin(app, 'alice')).statusCode, 200, 'a pending enrollment asks for nothing yet')

      const step = stepAt(Date.now())
      const confirmed = await json(app, 'POST', '/totp/confirm', accessToken, { code: codeAt(secret, step) })
      t.equal(confirmed.statusCode, 200, confirmed.body)
      t.equal(confirmed.headers['cache-control'], 'no-store')
      const recoveryCodes: string[] = confirmed.json().recovery_codes
      t.equal(recoveryCodes.length, 10)
      t.equal(new Set(recoveryCodes).size, 10)
      for (const code of recoveryCodes) t.match(code, RECOVERY_CODE)

      assertRefused(t, await passwordLogin(app, 'alice'), CODE_REQUIRED)
      assertRefused(t, await passwordLogin(app, 'alice', ''), CODE_REQUIRED)
      assertRefused(t, await passwordLogin(app, 'alice', codeAt(secret, step)), /wrong or was used/)
      assertRefused(t, await passwordLogin(app, 'alice', codeAt(secret, step + 2)), /wrong or was used/)
      const early = await passwordLogin(app, 'alice', codeAt(secret, step + 1))
      t.equal(early.statusCode, 200, `one step early: ${early.body}`)
      assertRefused(t, await passwordLogin(app, 'alice', codeAt(secret, step + 1)), /wrong or was used/)

      const [first = '', second = ''] = recoveryCodes
      t.equal((await passwordLogin(app, 'alice', first)).statusCode, 200, 'a recovery code')
      assertRefused(t, await passwordLogin(app, 'alice', first), /wrong or was used/)
      const typed = ` ${second.toUpperCase().replaceAll('-', ' ')} `
      t.equal((await passwordLogin(app, 'alice', typed)).statusCode, 200, 'another, typed in capitals with spaces')
      assertRefused(t, await passwordLogin(app, 'alice', second), /wrong or was used/)

      const wrongPassword = await token(app, { grant_type: 'password', username: 'alice', password: 'not the password at all', totp: codeAt(secret, step + 1) })
      assertRefused(t, wrongPassword, 'Invalid username or password')

      const refreshed = await refresh(app, refreshTokenOf(early.json()))
      t.equal(refreshed.statusCode, 200, `a refresh asks for no code: ${refreshed.body}`)

      const text = logText()
      for (const value of [secret, uri, ...recoveryCodes, recoveryCodes[0]!.replaceAll('-', '')]) t.notOk(text.includes(value), 'the log holds no secret or code')
      for (const offset of [0, 1, 2]) t.notOk(text.includes(`"${codeAt(secret, step + offset)}"`), 'nor a one-time code')
    })

    t.test('enrolled by an operator (users API), a code of the step before is accepted, two steps before is not', async t => {
      const { app } = await build(t, backend.env(t))
      await addUser(app.authStore, 'bob')
      await awayFromStepEdge()
      const { secret, uri, recoveryCodes } = await app.authUsers.enrollTotp('Bob')
      t.equal(secretOf(uri), secret)
      t.equal(recoveryCodes.length, 10)
      const step = stepAt(Date.now())
      assertRefused(t, await passwordLogin(app, 'bob', codeAt(secret, step - 2)), /wrong or was used/)
      const late = await passwordLogin(app, 'bob', codeAt(secret, step - 1))
      t.equal(late.statusCode, 200, `one step late: ${late.body}`)
      assertRefused(t, await passwordLogin(app, 'bob', codeAt(secret, step - 1)), /wrong or was used/)
      t.equal((await passwordLogin(app, 'bob', codeAt(secret, step))).statusCode, 200, 'a later step')
      assertRefused(t, await passwordLogin(app, 'bob', codeAt(secret, step - 1)), 'The one-time code is wrong or was used already')
    })

    t.test('DELETE /totp with a current code removes the requirement; a wrong code removes nothing', async t => {
      const { app } = await build(t, backend.env(t))
      await addUser(app.authStore, 'carol')
      await awayFromStepEdge()
      const { secret, step, accessToken } = await enrollOverHttp(t, app, 'carol')

      const wrong = await json(app, 'DELETE', '/totp', accessToken, { code: codeAt(secret, step) })
      assertRefused(t, wrong, /wrong or was used/)
      assertRefused(t, await passwordLogin(app, 'carol'), CODE_REQUIRED)

      const removed = await json(app, 'DELETE', '/totp', accessToken, { code: codeAt(secret, step + 1) })
      t.equal(removed.statusCode, 204, removed.body)
      t.equal(removed.body, '')
      t.equal(removed.headers['cache-control'], 'no-store')
      t.equal(await app.authStore.findTotpEnrollment((await app.authUsers.find('carol'))!.id), null)
      t.equal((await passwordLogin(app, 'carol')).statusCode, 200, 'the password alone logs in again')

      const again = await json(app, 'DELETE', '/totp', accessToken, { code: codeAt(secret, step + 1) })
      assertOAuthError(t, again, 409, 'invalid_request')
      const enrollAgain = await json(app, 'POST', '/totp/enroll', accessToken)
      t.equal(enrollAgain.statusCode, 200, 'a new enrollment can start')
      t.not(enrollAgain.json().secret, secret, 'with a new secret')
    })

    t.test('DELETE /totp takes a recovery code too', async t => {
      const { app } = await build(t, backend.env(t))
      await addUser(app.authStore, 'dave')
      const { recoveryCodes, accessToken } = await enrollOverHttp(t, app, 'dave')
      const removed = await json(app, 'DELETE', '/totp', accessToken, { code: recoveryCodes[3] })
      t.equal(removed.statusCode, 204, removed.body)
      t.equal((await passwordLogin(app, 'dave')).statusCode, 200)
    })

    if (backend.name !== 'memory') {
      t.test('two instances sharing the store: the same code, or recovery code, sent to both at once logs in once', async t => {
        const env = backend.env(t)
        const instances = [await build(t, env), await build(t, env)]
        const [one, two] = instances.map(({ app }) => app) as [FastifyInstance, FastifyInstance]
        await addUser(one.authStore, 'erin')
        await awayFromStepEdge()
        const { secret, recoveryCodes } = await one.authUsers.enrollTotp('erin')
        const step = stepAt(Date.now())
        for (const code of [codeAt(secret, step), recoveryCodes[0]!]) {
          const responses = await Promise.all([one, two, one, two].map(app => passwordLogin(app, 'erin', code)))
          t.equal(responses.filter(response => response.statusCode === 200).length, 1, responses.map(response => response.statusCode).join(' '))
          for (const response of responses) if (response.statusCode !== 200) assertRefused(t, response, /wrong or was used/)
        }
      })
    }
  })
}

t.test('a wrong code counts as a failed login and a missing one does not; only both factors reset the count', async t => {
  const { app, logs } = await build(t)
  await addUser(app.authStore, 'alice')
  await awayFromStepEdge()
  const { secret, step } = await enrollOverHttp(t, app, 'alice')
  const address = '203.0.113.9'

  for (let index = 1; index <= 12; index++) assertRefused(t, await passwordLogin(app, 'alice', undefined, address), CODE_REQUIRED)
  for (let index = 1; index <= 9; index++) assertRefused(t, await passwordLogin(app, 'alice', '000000', address), /wrong or was used/)
  const right = await passwordLogin(app, 'alice', codeAt(secret, step + 1), address)
  t.equal(right.statusCode, 200, 'nine wrong codes do not block the right one')

  // Each wrong code after a right password counts: had a right password alone reset the count, the eleventh would pass.
  for (let index = 1; index <= 10; index++) assertRefused(t, await passwordLogin(app, 'alice', '000000', address), /wrong or was used/)
  const blocked = await passwordLogin(app, 'alice', codeAt(secret, step + 1), address)
  t.equal(blocked.statusCode, 429, blocked.body)
  t.match(blocked.headers['retry-after'], /^[1-9]\d*$/)
  t.equal(blocked.json().error, 'invalid_request')

  const outcomes = logs().filter(line => line.audit === 'login').map(line => line.outcome)
  t.strictSame(outcomes.slice(1), [
    ...Array(12).fill('code_missing'), ...Array(9).fill('wrong_code'), 'success', ...Array(10).fill('wrong_code'), 'rate_limited'
  ], 'the audit lines name each outcome')
})

t.test('DELETE /totp: a wrong code counts against the same limits', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'alice')
  await awayFromStepEdge()
  const { secret, step, accessToken } = await enrollOverHttp(t, app, 'alice')
  for (let index = 1; index <= 10; index++) assertRefused(t, await json(app, 'DELETE', '/totp', accessToken, { code: '000000' }), /wrong or was used/)
  const blocked = await json(app, 'DELETE', '/totp', accessToken, { code: codeAt(secret, step + 1) })
  t.equal(blocked.statusCode, 429, blocked.body)
  t.ok(blocked.headers['retry-after'])
  t.equal((await passwordLogin(app, 'alice', codeAt(secret, step + 1))).statusCode, 429, 'and the password login of the user from there')
})

t.test('a disabled user is refused as before, whatever the second factor', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'alice')
  await app.authUsers.enrollTotp('alice')
  await app.authUsers.disable('alice')
  assertRefused(t, await passwordLogin(app, 'alice'), 'The user is disabled')
})

t.test('enrollment: a pending one is replaced; an active one must be removed first; confirming needs a pending one and its code', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'alice')
  await awayFromStepEdge()
  const accessToken = (await login(app, 'alice')).access_token

  const notPending = await json(app, 'POST', '/totp/confirm', accessToken, { code: '123456' })
  assertOAuthError(t, notPending, 409, 'invalid_request')
  t.match(notPending.json().error_description, /POST \/totp\/enroll/)

  const first = (await json(app, 'POST', '/totp/enroll', accessToken)).json().secret
  const second = (await json(app, 'POST', '/totp/enroll', accessToken)).json().secret
  t.not(second, first)
  const step = stepAt(Date.now())
  assertRefused(t, await json(app, 'POST', '/totp/confirm', accessToken, { code: codeAt(first, step) }), /wrong/)
  assertRefused(t, await json(app, 'POST', '/totp/confirm', accessToken, { code: codeAt(second, step + 2) }), /wrong/)
  t.equal((await json(app, 'POST', '/totp/confirm', accessToken, { code: codeAt(second, step - 1) })).statusCode, 200, 'one step late confirms')

  const enrolled = await json(app, 'POST', '/totp/enroll', accessToken)
  assertOAuthError(t, enrolled, 409, 'invalid_request')
  t.match(enrolled.json().error_description, /enabled already/)
  assertOAuthError(t, await json(app, 'POST', '/totp/confirm', accessToken, { code: codeAt(second, step) }), 409, 'invalid_request')
  assertRefused(t, await passwordLogin(app, 'alice', codeAt(second, step - 1)), /wrong or was used/)
  t.equal((await passwordLogin(app, 'alice', codeAt(second, step))).statusCode, 200)
})

t.test('the JSON endpoints refuse in the contract\'s format', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'alice')
  const accessToken = (await login(app, 'alice')).access_token
  const routes = [['POST', '/totp/enroll'], ['POST', '/totp/confirm'], ['DELETE', '/totp']] as const

  for (const [method, url] of routes) {
    const missing = await app.inject({ method, url })
    assertOAuthError(t, missing, 401, 'invalid_token')
    t.equal(missing.headers['www-authenticate'], 'Bearer realm="http://127.0.0.1:3000"', `${url}: no token`)
    const invalid = await app.inject({ method, url, headers: { authorization: `Bearer ${accessToken.slice(0, -4)}AAAA` } })
    assertOAuthError(t, invalid, 401, 'invalid_token')
    t.match(invalid.headers['www-authenticate'], /error="invalid_token"/)
    const malformed = await app.inject({ method, url, headers: { authorization: 'Bearer a b' } })
    assertOAuthError(t, malformed, 400, 'invalid_request')
    t.match(malformed.headers['www-authenticate'], /error="invalid_request"/)
  }

  const authorization = `Bearer ${accessToken}`
  const bodies: Array<{ name: string, url: string, headers?: Record<string, string>, payload: string, status: number }> = [
    { name: 'a form body', url: '/totp/confirm', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'code=123456', status: 400 },
    { name: 'JSON that does not parse', url: '/totp/confirm', headers: { 'content-type': 'application/json' }, payload: '{"code":', status: 400 },
    { name: 'no body', url: '/totp/confirm', payload: '', status: 400 },
    { name: 'a code of five digits', url: '/totp/confirm', headers: { 'content-type': 'application/json' }, payload: '{"code":"12345"}', status: 400 },
    { name: 'a code as an object', url: '/totp/confirm', headers: { 'content-type': 'application/json' }, payload: '{"code":{"a":1}}', status: 400 },
    { name: 'a prototype-poisoning body', url: '/totp/confirm', headers: { 'content-type': 'application/json' }, payload: '{"code":"123456","__proto__":{"x":1}}', status: 400 },
    { name: 'a body too large', url: '/totp/confirm', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ code: '123456', padding: 'x'.repeat(2000) }), status: 413 },
    { name: 'an empty code', url: '/totp', headers: { 'content-type': 'application/json' }, payload: '{"code":""}', status: 400 },
    { name: 'a code too long', url: '/totp', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ code: 'x'.repeat(65) }), status: 400 }
  ]
  for (const { name, url, headers, payload, status } of bodies) {
    const response = await app.inject({ method: url === '/totp' ? 'DELETE' : 'POST', url, headers: { authorization, ...headers }, payload })
    assertOAuthError(t, response, status, 'invalid_request')
    t.pass(name)
  }
  const enrolledNothing = await app.inject({ method: 'POST', url: '/totp/enroll', headers: { authorization, 'content-type': 'application/json' }, payload: '{}' })
  t.equal(enrolledNothing.statusCode, 200, 'enroll takes an empty JSON object too')
})

t.test('with SIGNING_KEY_SECRET the TOTP secret is stored encrypted, bound to its user; without, in clear', async t => {
  t.test('SQLite: not in the database, its -wal or -shm', async t => {
    const database = join(t.testdir(), 'auth.db')
    const { app } = await build(t, { DATABASE_URL: `sqlite:${database}`, SIGNING_KEY_SECRET: SECRET })
    const alice = await addUser(app.authStore, 'alice')
    const { secret } = await enrollOverHttp(t, app, 'alice')
    const stored = await app.authStore.findTotpEnrollment(alice.id)
    t.match(stored?.secret, /^\$aes-256-gcm\$v=1\$/)
    t.notOk(stored?.secret.includes(secret))
    const traces = [{ name: 'the base32 secret', bytes: Buffer.from(secret) }]
    t.strictSame(findTraces(database, traces), [], 'while the server runs')
    await app.close()
    t.strictSame(findTraces(database, traces), [], 'once it is closed')
  })

  t.test('PostgreSQL: the column holds the encrypted form', { skip: POSTGRES_URL === '' ? 'TEST_POSTGRES_URL is not set' : false }, async t => {
    const { schema, url } = freshSchema(t, 'totp_at_rest_')
    const { app } = await build(t, { DATABASE_URL: url, SIGNING_KEY_SECRET: SECRET })
    const alice = await addUser(app.authStore, 'alice')
    const { secret } = await enrollOverHttp(t, app, 'alice')
    const rows = await withPostgres(schema, async client => (await client.query('SELECT user_id, secret FROM totp_enrollments')).rows)
    t.equal(rows.length, 1)
    t.equal(rows[0].user_id, alice.id)
    t.match(rows[0].secret, /^\$aes-256-gcm\$v=1\$/)
    t.notOk(String(rows[0].secret).includes(secret))
  })

  t.test('an encrypted secret moved to another user does not work there', async t => {
    const { app } = await build(t, { SIGNING_KEY_SECRET: SECRET })
    const alice = await addUser(app.authStore, 'alice')
    const mallory = await addUser(app.authStore, 'mallory')
    await awayFromStepEdge()
    const { secret } = await enrollOverHttp(t, app, 'alice')
    const stolen = (await app.authStore.findTotpEnrollment(alice.id))!.secret
    await app.authStore.startTotpEnrollment(mallory.id, stolen, Date.now())
    await app.authStore.activateTotpEnrollment(mallory.id, stolen, null, [])
    const refused = await passwordLogin(app, 'mallory', codeAt(secret, stepAt(Date.now()) + 1))
    t.equal(refused.statusCode, 500, 'refused: the secret does not decrypt for this user')
    t.strictSame(refused.json(), { error: 'server_error', error_description: 'The server could not handle the request' })
  })

  t.test('without the secret it is stored as the authenticator app has it', async t => {
    const { app } = await build(t)
    const alice = await addUser(app.authStore, 'alice')
    const { secret } = await enrollOverHttp(t, app, 'alice')
    t.equal((await app.authStore.findTotpEnrollment(alice.id))?.secret, secret)
  })
})

t.test('embedded under a prefix, beside a host\'s own JSON route and error handler', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.setErrorHandler((_error, _request, reply) => reply.code(418).send({ host: 'handler' }))
  await app.register(oauth2Password, {
    store: 'memory:', issuer: 'https://auth.example.com', scopes: { read: 'Read' }, prefix: '/auth', argon2: CHEAP_ARGON2
  })
  app.post('/echo', async request => request.body)
  app.get('/boom', async () => { throw new Error('boom') })
  await app.ready()
  await app.authUsers.create({ username: 'alice', password: PASSWORD, scopes: ['read'] })
  await awayFromStepEdge()

  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const loginAt = async (code?: string) => await app.inject({
    method: 'POST', url: '/auth/token', headers: form, payload: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORD, ...(code !== undefined && { totp: code }) }).toString()
  })
  const accessToken = (await loginAt()).json().access_token
  const started = await json(app, 'POST', '/auth/totp/enroll', accessToken)
  t.equal(started.statusCode, 200, started.body)
  const { secret, otpauth_uri: uri } = started.json()
  t.match(uri, /^otpauth:\/\/totp\/auth\.example\.com:alice\?/, 'the issuer\'s host names the service')
  const step = stepAt(Date.now())
  t.equal((await json(app, 'POST', '/auth/totp/confirm', accessToken, { code: codeAt(secret, step) })).statusCode, 200)
  assertRefused(t, await loginAt(), CODE_REQUIRED)
  t.equal((await loginAt(codeAt(secret, step + 1))).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/totp/enroll' })).statusCode, 404, 'nothing at the root')

  const echoed = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } })
  t.strictSame(echoed.json(), { a: 1 }, 'the host still parses JSON')
  t.strictSame((await app.inject({ url: '/boom' })).json(), { host: 'handler' }, 'and keeps its error handler')
})
