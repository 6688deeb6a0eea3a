import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import oauth2Password from '../../plugins/auth.js'
import { CHEAP_ARGON2, build, addUser, PASSWORD } from '../helper.js'

const WRONG_PASSWORD = 'not the password of anyone here'
const ADDRESS = '203.0.113.7'
/** docs/contract.md §9: the default limit of failures in a row for one username from one address. */
const PAIR_LIMIT = 10
/** The default window, in seconds. */
const WINDOW = 15 * 60

const redisUrl = process.env.TEST_REDIS_URL
const REDIS_SKIP = 'TEST_REDIS_URL is not set: Redis-backed limit tests skipped'

/** One password-grant attempt from `remoteAddress`. */
async function attempt (app: FastifyInstance, username: string, password: string, remoteAddress = ADDRESS): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/token',
    remoteAddress,
    payload: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
}

async function failTimes (t: Test, app: FastifyInstance, username: string, times: number, remoteAddress = ADDRESS): Promise<void> {
  for (let index = 1; index <= times; index++) {
    const response = await attempt(app, username, WRONG_PASSWORD, remoteAddress)
    t.equal(response.statusCode, 400, `failure ${index}: ${response.body}`)
    t.equal(response.json().error, 'invalid_grant')
  }
}

/** docs/contract.md §3: 429, a Retry-After in whole seconds within the window, no-store, and exactly `error` and `error_description`. */
function assertTooMany (t: Test, response: LightMyRequestResponse): void {
  t.equal(response.statusCode, 429, response.body)
  const retryAfter = response.headers['retry-after']
  t.match(retryAfter, /^[1-9]\d*$/, 'retry-after is a positive integer')
  t.ok(Number(retryAfter) <= WINDOW, `retry-after ${retryAfter} is within the window`)
  t.equal(response.headers['cache-control'], 'no-store')
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['error', 'error_description'])
  t.equal(body.error, 'invalid_request')
  t.type(body.error_description, 'string')
  t.notMatch(response.body, /access_token|refresh_token/)
}

/** Fails the test rather than hang when `work` does not settle within `ms`. */
async function within<T> (ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

t.test('ten wrong passwords from one address: the next attempt is 429, even with the right password', async t => {
  const { app, logs } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await addUser(app.authStore, 'alice')

  await failTimes(t, app, 'johndoe', PAIR_LIMIT)
  assertTooMany(t, await attempt(app, 'johndoe', PASSWORD))
  // The refused attempt did not check the password, so it did not reset the count either.
  assertTooMany(t, await attempt(app, 'JohnDoe', PASSWORD))

  const limited = logs().filter(line => line.audit === 'login' && line.outcome === 'rate_limited')
  t.equal(limited.length, 1, 'the first refusal from the address is written, the next counted into a later line')
  t.match(limited[0], { usernameDigest: /^[\w-]{16}$/, clientAddress: ADDRESS, clientId: 'first-party' })
  t.equal(limited[0]?.username, undefined, 'a refused attempt does not say whether the username exists')
  t.equal(logs().filter(line => line.audit === 'login' && line.outcome === 'wrong_password').length, PAIR_LIMIT)

  t.test('another username from the same address logs in as usual', async t => {
    const wrong = await attempt(app, 'alice', WRONG_PASSWORD)
    t.equal(wrong.statusCode, 400, wrong.body)
    t.equal(wrong.json().error, 'invalid_grant')
    const right = await attempt(app, 'alice', PASSWORD)
    t.equal(right.statusCode, 200, right.body)
  })

  t.test('an unknown username from the same address is not limited by johndoe\'s count', async t => {
    const response = await attempt(app, 'nobody', WRONG_PASSWORD)
    t.equal(response.statusCode, 400, response.body)
  })

  t.test('the same username from another address logs in', async t => {
    const response = await attempt(app, 'johndoe', PASSWORD, '198.51.100.23')
    t.equal(response.statusCode, 200, response.body)
  })
})

t.test('failures for an unknown username count like wrong passwords', async t => {
  const { app } = await build(t)
  await failTimes(t, app, 'nobody', PAIR_LIMIT)
  assertTooMany(t, await attempt(app, 'nobody', PASSWORD))
})

t.test('a correct login resets the count: 9 failures, a success, 9 failures are not limited', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')

  await failTimes(t, app, 'johndoe', PAIR_LIMIT - 1)
  const success = await attempt(app, 'johndoe', PASSWORD)
  t.equal(success.statusCode, 200, success.body)
  await failTimes(t, app, 'johndoe', PAIR_LIMIT - 1)
  const right = await attempt(app, 'johndoe', PASSWORD)
  t.equal(right.statusCode, 200, `not limited after the reset: ${right.body}`)

  // And the count started again from the success: ten more failures, then 429.
  await failTimes(t, app, 'johndoe', PAIR_LIMIT)
  assertTooMany(t, await attempt(app, 'johndoe', PASSWORD))
})

t.test('through Redis, instances share the counts', { skip: redisUrl === undefined ? REDIS_SKIP : false }, async t => {
  const env = { REDIS_URL: redisUrl ?? '' }
  const a = await build(t, env)
  const b = await build(t, env)
  // The counter prefix is fixed: a username and an address of this run's own keep runs apart.
  const username = `limits-${randomBytes(8).toString('hex')}`
  const address = `2001:db8::${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`
  await addUser(a.app.authStore, username)
  await addUser(b.app.authStore, username)

  await failTimes(t, a.app, username, PAIR_LIMIT / 2, address)
  await failTimes(t, b.app, username, PAIR_LIMIT / 2, address)
  assertTooMany(t, await attempt(a.app, username, PASSWORD, address))
  assertTooMany(t, await attempt(b.app, username, PASSWORD, address))
})

t.test('when Redis does not answer, a login is 503 temporarily_unavailable, never a 500 or a hang', async t => {
  const assertUnavailable = (t: Test, response: LightMyRequestResponse): void => {
    t.equal(response.statusCode, 503, response.body)
    t.match(response.headers['retry-after'], /^[1-9]\d*$/)
    t.equal(response.headers['cache-control'], 'no-store')
    const body = response.json()
    t.same(Object.keys(body).sort(), ['error', 'error_description'])
    t.equal(body.error, 'temporarily_unavailable')
  }

  t.test('nothing listens at the address', async t => {
    const { app, logs } = await build(t, { REDIS_URL: 'redis://127.0.0.1:1' })
    await addUser(app.authStore, 'johndoe')
    assertUnavailable(t, await within(10_000, attempt(app, 'johndoe', PASSWORD)))
    assertUnavailable(t, await within(10_000, attempt(app, 'johndoe', WRONG_PASSWORD)))
    t.ok(logs().some(line => line.msg === 'failed-login counters do not answer'), 'the failure is logged')
  })

  t.test('a server accepts the connection and never answers', async t => {
    const sockets = new Set<Socket>()
    const silent = createServer(socket => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    t.teardown(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => silent.close(resolve))
    })
    const address = silent.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0

    const { app } = await build(t, { REDIS_URL: `redis://127.0.0.1:${port}` })
    await addUser(app.authStore, 'johndoe')
    assertUnavailable(t, await within(10_000, attempt(app, 'johndoe', PASSWORD)))
  })
})

/** Concurrent guesses, all started before any is answered: how many had their password checked. */
async function concurrentGuesses (t: Test, app: FastifyInstance, guesses: Array<{ username: string, password: string }>): Promise<{ checked: number, tooMany: number, tokens: number }> {
  const responses = await Promise.all(guesses.map(async ({ username, password }) => await attempt(app, username, password)))
  const statuses = responses.map(response => response.statusCode)
  t.same(statuses.filter(status => ![200, 400, 429].includes(status)), [], 'every answer is 200, 400 or 429')
  for (const response of responses.filter(response => response.statusCode === 429)) assertTooMany(t, response)
  return {
    // A 400 invalid_grant or a 200 means the password was checked.
    checked: statuses.filter(status => status === 400 || status === 200).length,
    tooMany: statuses.filter(status => status === 429).length,
    tokens: statuses.filter(status => status === 200).length
  }
}

/** 60 wrong guesses at once, the right password among them as the 50th. */
const SIXTY = Array.from({ length: 60 }, (_, index) => ({ username: 'johndoe', password: index === 49 ? PASSWORD : WRONG_PASSWORD }))

t.test('60 simultaneous guesses for one username from one address: at most 10 password checks', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { checked, tooMany, tokens } = await concurrentGuesses(t, app, SIXTY)
  t.ok(checked <= PAIR_LIMIT, `${checked} password checks`)
  t.equal(checked + tooMany, 60)
  t.equal(tokens, 0, 'the right password, 50th, was refused without being checked')
})

t.test('through Redis, 60 simultaneous guesses on two instances: at most 10 password checks', { skip: redisUrl === undefined ? REDIS_SKIP : false }, async t => {
  const env = { REDIS_URL: redisUrl ?? '' }
  const a = await build(t, env)
  const b = await build(t, env)
  const username = `limits-${randomBytes(8).toString('hex')}`
  await addUser(a.app.authStore, username)
  await addUser(b.app.authStore, username)
  const address = `2001:db8::${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`
  const responses = await Promise.all(Array.from({ length: 60 }, async (_, index) =>
    await attempt(index % 2 === 0 ? a.app : b.app, username, index === 49 ? PASSWORD : WRONG_PASSWORD, address)))
  const checked = responses.filter(response => response.statusCode === 400 || response.statusCode === 200).length
  t.ok(checked <= PAIR_LIMIT, `${checked} password checks`)
  t.equal(responses.filter(response => response.statusCode === 429).length, 60 - checked)
})

t.test('the per-address limit holds under concurrency: 40 guesses across usernames, limit 20', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(oauth2Password, {
    store: 'memory:',
    issuer: 'http://api.test',
    scopes: {},
    argon2: CHEAP_ARGON2,
    // Room for every guess in the hashing queue, so that none is refused as saturation instead.
    hashing: { queueLimit: 100 },
    loginLimits: { address: 20 }
  })
  await app.ready()
  const { checked, tooMany } = await concurrentGuesses(t, app, Array.from({ length: 40 }, (_, index) => ({ username: `user${index}`, password: WRONG_PASSWORD })))
  t.equal(checked, 20, 'exactly the limit were checked')
  t.equal(tooMany, 20)
})
