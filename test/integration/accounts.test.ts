import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { PASSWORD } from '../helper.js'
import { codeIn, smtpServer, type Mailbox } from '../accounts/smtp.js'
import { POSTGRES_URL, REDIS_URL, call, freshSchema, startServer, token, unique, type Answer, type Server } from './helper.js'

// Every account flow across two server processes that share one store, each step on the instance
// the other did not take: on PostgreSQL (with Redis), and on one SQLite file. Mail goes to a real
// SMTP server on loopback in this process.

const FROM = 'Auth <auth@example.test>'
/** How soon every instance must refuse a token whose login ended on another. */
const END_DELAY_MS = 1000

async function json (server: Server, method: string, path: string, body?: unknown, accessToken?: string): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (accessToken !== undefined) headers.authorization = `Bearer ${accessToken}`
  return await call(`${server.url}${path}`, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) })
}

async function login (server: Server, username: string, password = PASSWORD): Promise<Answer> {
  return await token(server, { grant_type: 'password', username, password })
}

/** Waits, up to END_DELAY_MS, for `server` to refuse `accessToken`; returns how long it took, or fails. */
async function refusedWithin (t: Test, server: Server, accessToken: string, what: string): Promise<void> {
  const start = Date.now()
  let status = 200
  for (;;) {
    status = (await json(server, 'GET', '/users/me', undefined, accessToken)).status
    if (status !== 200 || Date.now() - start > END_DELAY_MS) break
    await sleep(25)
  }
  t.equal(status, 401, `${what}: refused ${Date.now() - start} ms after`)
}

async function flows (t: Test, a: Server, b: Server, mailbox: Mailbox): Promise<void> {
  const username = unique('acct-')
  const address = `${username}@example.test`
  const newPassword = 'the second passphrase of this user'
  const thirdPassword = 'and a third passphrase, after a reset'

  t.test('register on A, verify on B, log in on A', async t => {
    const registered = await json(a, 'POST', '/register', { username, password: PASSWORD, email: address })
    t.equal(registered.status, 201, registered.body)
    const code = codeIn(await mailbox.next(address))
    t.equal((await login(a, username)).json().error_description, 'The e-mail address is not verified')
    t.equal((await json(b, 'POST', '/email/verify', { code })).status, 204)
    t.equal((await login(a, username)).status, 200)
    t.equal((await json(a, 'POST', '/email/verify', { code })).status, 400, 'the code is spent for A too')
  })

  t.test('sessions listed on B, one ended on A, refused on B within a second', async t => {
    const one = (await login(a, username)).json()
    const two = (await login(b, username)).json()
    t.equal((await json(b, 'GET', '/users/me', undefined, two.access_token)).status, 200)
    const listed = await json(b, 'GET', '/sessions', undefined, two.access_token)
    t.equal(listed.status, 200)
    const current = listed.json().filter((session: { current: boolean }) => session.current)
    t.equal(current.length, 1)
    t.equal((await json(a, 'DELETE', `/sessions/${current[0].id as string}`, undefined, one.access_token)).status, 204)
    await refusedWithin(t, b, two.access_token, 'the ended login\'s token on B')
    t.equal((await token(b, { grant_type: 'refresh_token', refresh_token: two.refresh_token })).status, 400)
    t.equal((await json(b, 'GET', '/users/me', undefined, one.access_token)).status, 200, 'the other login lives on')
  })

  t.test('password changed on A: the login on B is refused within a second, A\'s login refreshes on B', async t => {
    const here = (await login(a, username)).json()
    const there = (await login(b, username)).json()
    t.equal((await json(b, 'GET', '/users/me', undefined, there.access_token)).status, 200)
    t.equal((await json(a, 'POST', '/password/change', { current_password: PASSWORD, new_password: newPassword }, here.access_token)).status, 204)
    await refusedWithin(t, b, there.access_token, 'another login\'s token on B')
    t.equal((await token(b, { grant_type: 'refresh_token', refresh_token: there.refresh_token })).status, 400)
    const renewed = await token(b, { grant_type: 'refresh_token', refresh_token: here.refresh_token })
    t.equal(renewed.status, 200, 'the login that changed it refreshes on B')
    t.equal((await json(a, 'GET', '/users/me', undefined, renewed.json().access_token)).status, 200)
    t.equal((await login(b, username, newPassword)).status, 200)
  })

  t.test('forgot on B, reset on A: every token refused on B within a second; the new password logs in on B', async t => {
    const before = (await login(b, username, newPassword)).json()
    t.equal((await json(b, 'GET', '/users/me', undefined, before.access_token)).status, 200)
    t.equal((await json(b, 'POST', '/password/forgot', { email: address.toUpperCase() })).status, 202)
    const code = codeIn(await mailbox.next(address))
    t.equal((await json(a, 'POST', '/password/reset', { code, password: thirdPassword })).status, 204)
    await refusedWithin(t, b, before.access_token, 'a token from before the reset on B')
    t.equal((await login(b, username, newPassword)).status, 400)
    t.equal((await login(b, username, thirdPassword)).status, 200)
    t.equal((await json(b, 'POST', '/password/reset', { code, password: 'one more passphrase, refused' })).status, 400, 'the code is spent for B too')
  })

  t.test('logged out everywhere on B: the logins on A are refused within a second', async t => {
    const onA = (await login(a, username, thirdPassword)).json()
    const onB = (await login(b, username, thirdPassword)).json()
    t.equal((await json(a, 'GET', '/users/me', undefined, onA.access_token)).status, 200)
    t.equal((await json(b, 'POST', '/logout', { all: true }, onB.access_token)).status, 204)
    await refusedWithin(t, a, onA.access_token, 'a login on A')
    t.equal((await token(a, { grant_type: 'refresh_token', refresh_token: onA.refresh_token })).status, 400)
    t.strictSame((await json(a, 'GET', '/sessions', undefined, (await login(a, username, thirdPassword)).json().access_token)).json().length, 1,
      'a login after it is the only one')
  })
}

function env (mailbox: Mailbox, database: string, redis?: string): Record<string, string> {
  return {
    DATABASE_URL: database,
    REGISTRATION: 'open',
    EMAIL_VERIFICATION: 'required',
    SMTP_URL: mailbox.url,
    MAIL_FROM: FROM,
    ...(redis !== undefined && { REDIS_URL: redis })
  }
}

t.test('two instances on one PostgreSQL schema and Redis', { skip: POSTGRES_URL === '' || REDIS_URL === '' ? 'TEST_POSTGRES_URL/TEST_REDIS_URL not set' : false }, async t => {
  const { url } = freshSchema(t, 'acct_')
  const mailbox = await smtpServer(t)
  const [a, b] = await Promise.all([startServer(t, env(mailbox, url, REDIS_URL)), startServer(t, env(mailbox, url, REDIS_URL))])
  await flows(t, a, b, mailbox)
})

t.test('two instances on one SQLite file', async t => {
  const database = `sqlite:${join(t.testdir(), 'auth.db')}`
  const mailbox = await smtpServer(t)
  // One first, so that the second opens a file that is migrated already.
  const a = await startServer(t, env(mailbox, database))
  const b = await startServer(t, env(mailbox, database))
  await flows(t, a, b, mailbox)
})
