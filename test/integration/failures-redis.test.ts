import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { setTimeout as pause } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { openStore } from '../../store/index.js'
import { PASSWORD, addUser } from '../helper.js'
import { bearer, call, startServer, token, type Answer, type Server } from './helper.js'
import { redisServer } from './services.js'

// Redis stopped under the server and started again: logins, which Redis counts, wait with 503 and
// Retry-After; /health says Redis does not answer; protected routes and refreshes, which never use
// Redis, go on. Once Redis is back, all of it answers again without a restart. The Redis is the
// test's own: the shared one is never stopped.

function hasRedisServer (): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const login = async (server: Server): Promise<Answer> => await token(server, { grant_type: 'password', username: 'alice', password: PASSWORD })

/** Asks until `ask` answers 200, every 50 ms, at most `attempts` times; returns every answer. */
async function until200 (ask: () => Promise<Answer>, attempts: number): Promise<Answer[]> {
  const answers: Answer[] = []
  for (let attempt = 0; attempt < attempts; attempt++) {
    const answer = await ask()
    answers.push(answer)
    if (answer.status === 200) break
    await pause(50)
  }
  return answers
}

function assertLoginUnavailable (t: Test, answer: Answer): void {
  t.equal(answer.status, 503, answer.body)
  t.match(answer.headers['retry-after'], /^\d+$/)
  t.equal(answer.headers['cache-control'], 'no-store')
  t.equal(answer.json().error, 'temporarily_unavailable')
  t.notMatch(answer.body, /ECONN|127\.0\.0\.1|redis/i, 'nothing of the cause')
}

t.test('Redis stopped and started again', { skip: hasRedisServer() ? false : 'redis-server is not installed' }, async t => {
  const redis = await redisServer(t)
  const database = `sqlite:${join(t.testdir(), 'auth.db')}`
  const store = await openStore(database)
  await addUser(store, 'alice')
  await store.close()
  const server = await startServer(t, { DATABASE_URL: database, REDIS_URL: redis.url })

  const first = await login(server)
  t.equal(first.status, 200, first.body)
  t.strictSame((await call(`${server.url}/health`)).json(), { status: 'ok' })
  const { access_token: access } = first.json()
  let refresh: string = first.json().refresh_token

  await redis.stop()
  const down = await login(server)
  assertLoginUnavailable(t, down)
  const wrong = await token(server, { grant_type: 'password', username: 'alice', password: 'a wrong password, long enough' })
  assertLoginUnavailable(t, wrong)
  const health = await call(`${server.url}/health`)
  t.equal(health.status, 503)
  t.strictSame(health.json(), { status: 'unavailable', unavailable: ['redis'] })
  const me = await bearer(server, '/users/me', access)
  t.equal(me.status, 200, `a protected route is unaffected: ${me.body}`)
  const refreshed = await token(server, { grant_type: 'refresh_token', refresh_token: refresh })
  t.equal(refreshed.status, 200, `a refresh is unaffected: ${refreshed.body}`)
  refresh = refreshed.json().refresh_token

  await redis.start()
  const started = Date.now()
  // ioredis reconnects with a growing delay, two seconds at most: within a few dozen health checks.
  const checks = await until200(async () => await call(`${server.url}/health`), 200)
  t.equal(checks.at(-1)?.status, 200, '/health answers 200 again')
  t.strictSame(checks.at(-1)?.json(), { status: 'ok' })
  const reconnected = Date.now() - started
  const again = await login(server)
  t.equal(again.status, 200, `a login succeeds again: ${again.body}`)
  t.equal((await token(server, { grant_type: 'refresh_token', refresh_token: refresh })).status, 200)
  t.equal(server.child.exitCode, null, 'the server is still running')
  t.comment(`/health 200 again ${reconnected} ms after Redis was ready (${checks.length} checks)`)
})
