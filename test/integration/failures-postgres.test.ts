import { setTimeout as pause } from 'node:timers/promises'
import pg from 'pg'
import t, { type Test } from 'tap'
import { StoreUnavailableError, openStore } from '../../store/index.js'
import { PostgresStore } from '../../store/postgres.js'
import { PASSWORD, addUser } from '../helper.js'
import { bearer, call, startServer, token, unique, type Answer, type Server } from './helper.js'
import { postgresCluster, postgresClusterSkip, type Postgres } from './services.js'

// PostgreSQL failing under the server: sessions terminated in the middle of refreshes, the server
// stopped and started again under load, a rotation cut off halfway. The server stays up, answers
// 200, 400 or 503 (never 500, never a word of what failed), and serves again once PostgreSQL does.
// All of it on a cluster of the test's own: the shared server is never stopped.

/** What no answer may carry: an address, a port, a SQLSTATE, a driver's message. */
const INTERNALS = /ECONN|57P0|08006|SQLSTATE|127\.0\.0\.1|:\d{4,5}\b|postgres|terminat|Connection/i

/** How long the load goes on after a fault before the next step, in answers of each kind. */
const ANSWERS_PER_PHASE = 20

/** Families refreshed over and over during the terminations, one chain of requests each. */
const CHAINS = 16
/** Rounds of pg_terminate_backend, each after the chains have been answered this many more times. */
const TERMINATIONS = 6
const ANSWERS_BETWEEN_TERMINATIONS = 40

const skip = postgresClusterSkip()

/** Asserts that `answer` is 503 with Retry-After and the RFC 6749 body, saying nothing of the cause. */
function assertTokenUnavailable (t: Test, answer: Answer, name: string): void {
  t.equal(answer.status, 503, `${name}: ${answer.body}`)
  t.match(answer.headers['retry-after'], /^\d+$/, `${name}: Retry-After`)
  t.equal(answer.json().error, 'temporarily_unavailable', name)
  t.notMatch(answer.body, INTERNALS, `${name}: no internals`)
}

/** A fresh schema on the cluster with one user; the server is started on it by the caller. */
async function prepare (cluster: Postgres, username: string): Promise<string> {
  const url = `${cluster.url}?schema=${unique('failures_')}`
  const store = await openStore(url)
  try {
    await addUser(store, username)
  } finally {
    await store.close()
  }
  return url
}

async function login (server: Server, username: string): Promise<{ access: string, refresh: string }> {
  const answer = await token(server, { grant_type: 'password', username, password: PASSWORD })
  if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${answer.body}`)
  return { access: answer.json().access_token, refresh: answer.json().refresh_token }
}

/** Every session of the server's connections to the cluster ended by pg_terminate_backend. */
async function terminateSessions (admin: pg.Client): Promise<number> {
  const { rowCount } = await admin.query(`
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  `)
  return rowCount ?? 0
}

/** Counts of answers by status, e.g. `{ 200: 812, 503: 40 }`. */
function countByStatus (answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const answer of answers) counts[answer.status] = (counts[answer.status] ?? 0) + 1
  return counts
}

t.test('PostgreSQL failing', { skip }, async t => {
  const cluster = await postgresCluster(t)

  t.test('sessions terminated during concurrent refreshes: the server stays up, and every chain refreshes again', async t => {
    const url = await prepare(cluster, 'alice')
    const server = await startServer(t, { DATABASE_URL: url })
    // One after another: more than ten logins of one user from one address at once are counted as guesses before they are checked.
    const chains: Array<{ refresh: string, lost: boolean }> = []
    for (let chain = 0; chain < CHAINS; chain++) chains.push({ refresh: (await login(server, 'alice')).refresh, lost: false })
    const admin = new pg.Client({ connectionString: cluster.url })
    await admin.connect()
    t.teardown(() => admin.end())

    const answers: Answer[] = []
    let stopping = false
    /** Resolves the terminator's wait once the chains have been answered `count` times in all. */
    let waiting: { count: number, resolve: () => void } | null = null
    const answered = async (count: number): Promise<void> => {
      if (answers.length >= count) return
      await new Promise<void>(resolve => { waiting = { count, resolve } })
    }
    const run = async (chain: { refresh: string, lost: boolean }): Promise<void> => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the flag is set elsewhere while this loop awaits
      while (!stopping && !chain.lost) {
        const answer = await token(server, { grant_type: 'refresh_token', refresh_token: chain.refresh })
        answers.push(answer)
        if (waiting !== null && answers.length >= waiting.count) waiting.resolve()
        // 503: the rotation was rolled back, so the same token is tried again. 400: the connection
        // was lost while COMMIT was in flight and the rotation was committed after all; the chain ends.
        if (answer.status === 200) chain.refresh = answer.json().refresh_token
        else if (answer.status === 400) chain.lost = true
      }
    }
    const running = chains.map(run)
    let terminated = 0
    for (let round = 1; round <= TERMINATIONS; round++) {
      await answered(round * ANSWERS_BETWEEN_TERMINATIONS)
      terminated += await terminateSessions(admin)
    }
    await answered((TERMINATIONS + 1) * ANSWERS_BETWEEN_TERMINATIONS)
    stopping = true
    await Promise.all(running)

    t.equal(server.child.exitCode, null, 'the server is still running')
    t.equal(server.child.signalCode, null)
    t.notMatch(server.output(), /uncaught|second error|killed by timeout/i, 'nothing escaped')
    const counts = countByStatus(answers)
    t.same(Object.keys(counts).filter(status => !['200', '400', '503'].includes(status)), [], `every answer is 200, 400 or 503: ${JSON.stringify(counts)}`)
    for (const answer of answers.filter(answer => answer.status === 503)) assertTokenUnavailable(t, answer, 'a refresh during the terminations')
    for (const answer of answers.filter(answer => answer.status === 400)) t.equal(answer.json().error, 'invalid_grant')

    const alive = chains.filter(chain => !chain.lost)
    const next = await Promise.all(alive.map(async chain => await token(server, { grant_type: 'refresh_token', refresh_token: chain.refresh })))
    t.same(next.map(answer => answer.status), alive.map(() => 200), 'the next refresh of every chain succeeds')
    t.comment(`${terminated} sessions terminated in ${TERMINATIONS} rounds; ${answers.length} refreshes: ${JSON.stringify(counts)}; ` +
      `${CHAINS - alive.length} of ${CHAINS} chains ended by a commit whose answer was lost`)
  })

  t.test('PostgreSQL stopped and started under a mixed load: 503 with Retry-After meanwhile, never 500, served again within 2 s', async t => {
    const url = await prepare(cluster, 'bob')
    const server = await startServer(t, { DATABASE_URL: url })
    const sessions = await Promise.all(Array.from({ length: 4 }, async () => await login(server, 'bob')))

    interface Timed { kind: 'get' | 'refresh' | 'login', answer: Answer, at: number }
    const answers: Timed[] = []
    let stopping = false
    const listeners = new Set<() => void>()
    const record = (timed: Timed): void => {
      answers.push(timed)
      for (const listener of listeners) listener()
    }
    /** Resolves once `predicate` holds of the answers so far, checked after each new one. */
    const until = async (predicate: () => boolean): Promise<void> => {
      if (predicate()) return
      await new Promise<void>(resolve => {
        const listener = (): void => {
          if (!predicate()) return
          listeners.delete(listener)
          resolve()
        }
        listeners.add(listener)
      })
    }
    const since = (from: number, kind: Timed['kind'], status?: number): number =>
      answers.filter(timed => timed.at >= from && timed.kind === kind && (status === undefined || timed.answer.status === status)).length

    // While the store is down every answer comes at once: a short pause keeps the load steady.
    const paced = async (answer: Answer): Promise<void> => { if (answer.status !== 200) await pause(20) }
    const workers = [
      ...sessions.map(async session => {
        // eslint-disable-next-line no-unmodified-loop-condition -- the flag is set elsewhere while this loop awaits
        while (!stopping) {
          const answer = await bearer(server, '/users/me', session.access)
          record({ kind: 'get', answer, at: Date.now() })
          await paced(answer)
        }
      }),
      ...sessions.map(async session => {
        // eslint-disable-next-line no-unmodified-loop-condition -- the flag is set elsewhere while this loop awaits
        while (!stopping) {
          const answer = await token(server, { grant_type: 'refresh_token', refresh_token: session.refresh })
          record({ kind: 'refresh', answer, at: Date.now() })
          if (answer.status === 200) session.refresh = answer.json().refresh_token
          // A refresh whose COMMIT was cut off may have been committed: the chain starts again with a login.
          if (answer.status === 400) session.refresh = (await login(server, 'bob')).refresh
          await paced(answer)
        }
      }),
      (async () => {
        // eslint-disable-next-line no-unmodified-loop-condition -- the flag is set elsewhere while this loop awaits
        while (!stopping) {
          const answer = await token(server, { grant_type: 'password', username: 'bob', password: PASSWORD })
          record({ kind: 'login', answer, at: Date.now() })
          await paced(answer)
        }
      })()
    ]

    const recoveries: number[] = []
    for (const mode of ['fast', 'immediate'] as const) {
      const before = Date.now()
      await until(() => since(before, 'refresh', 200) >= ANSWERS_PER_PHASE && since(before, 'login', 200) >= 1)
      await cluster.stop(mode)
      const down = Date.now()
      await until(() => (['get', 'refresh', 'login'] as const).every(kind => since(down, kind) >= ANSWERS_PER_PHASE))
      const health = await call(`${server.url}/health`)
      t.equal(health.status, 503, `${mode} stop: /health`)
      t.strictSame(health.json(), { status: 'unavailable', unavailable: ['store'] })
      await cluster.start()
      const back = Date.now()
      await until(() => since(back, 'refresh', 200) + since(back, 'login', 200) > 0)
      const first = answers.find(timed => timed.at >= back && timed.kind !== 'get' && timed.answer.status === 200)
      recoveries.push((first?.at ?? Infinity) - back)
      await until(() => (['get', 'refresh', 'login'] as const).every(kind => since(back, kind, 200) >= 1))
      t.equal((await call(`${server.url}/health`)).status, 200, `${mode} stop: /health once PostgreSQL is back`)
    }
    stopping = true
    await Promise.all(workers)

    t.equal(server.child.exitCode, null, 'the server is still running')
    const counts = Object.fromEntries((['get', 'refresh', 'login'] as const).map(kind => [kind, countByStatus(answers.filter(timed => timed.kind === kind).map(timed => timed.answer))]))
    t.equal(answers.filter(timed => timed.answer.status >= 500 && timed.answer.status !== 503).length, 0, `no 5xx but 503: ${JSON.stringify(counts)}`)
    t.same(answers.filter(timed => ![200, 400, 503].includes(timed.answer.status)).map(timed => `${timed.kind} ${timed.answer.status}`), [], 'every answer is 200, 400 or 503')
    for (const { kind, answer } of answers.filter(timed => timed.answer.status === 503)) {
      if (kind === 'get') {
        t.match(answer.headers['retry-after'], /^\d+$/, 'a protected route: Retry-After')
        t.strictSame(answer.json(), { statusCode: 503, code: 'STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'The store did not answer; retry shortly' })
      } else {
        assertTokenUnavailable(t, answer, kind)
      }
    }
    for (const recovery of recoveries) t.ok(recovery <= 2000, `first success ${recovery} ms after PostgreSQL answered again`)
    t.comment(`answers by kind and status: ${JSON.stringify(counts)}; first success after restart (fast, immediate stop): ${recoveries.join(', ')} ms`)
  })

  t.test('a rotation cut off halfway throws StoreUnavailableError, is rolled back, and succeeds when tried again', async t => {
    const schema = unique('failures_')
    const store = await PostgresStore.open(cluster.url, { schema })
    t.teardown(() => store.close())
    const user = await addUser(store, 'carol')
    const now = Date.now()
    await store.createRefreshFamily(
      { id: 'family', userId: user.id, clientId: 'first-party', scopes: ['me'], tokenVersion: 0, createdAt: now, expiresAt: now + 60_000 },
      { hash: 'first', createdAt: now, expiresAt: now + 60_000 }
    )
    const admin = new pg.Client({ connectionString: cluster.url })
    await admin.connect()
    t.teardown(() => admin.end())
    // Holding the token's row lock keeps the rotation waiting inside its transaction, after BEGIN and before its writes.
    await admin.query('BEGIN')
    await admin.query(`SELECT 1 FROM ${pg.escapeIdentifier(schema)}.refresh_tokens WHERE hash = 'first' FOR UPDATE`)
    // Its failure is taken at once: it may come before the answer to pg_terminate_backend does.
    const rotation = store.rotateRefreshToken('first', { hash: 'second', createdAt: now, expiresAt: now + 60_000 }, now, { clientId: 'first-party', jkt: null, scopes: [] })
      .then(() => null, (error: unknown) => error)
    let waiting: number | undefined
    for (let attempt = 0; attempt < 500 && waiting === undefined; attempt++) {
      const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
      waiting = rows[0]?.pid
      if (waiting === undefined) await pause(10)
    }
    t.ok(waiting, 'the rotation waits for the row lock')
    await admin.query('SELECT pg_terminate_backend($1)', [waiting])
    const error = await rotation
    t.type(error, StoreUnavailableError)
    t.equal((error as StoreUnavailableError).code, 'STORE_UNAVAILABLE')
    t.match((error as StoreUnavailableError).cause, { code: '57P01' }, 'the cause is the terminated session')
    await admin.query('ROLLBACK')

    t.match(await store.findRefreshToken('first'), { token: { spentAt: null } }, 'the token is still live')
    t.equal(await store.findRefreshToken('second'), null, 'its successor was not stored')
    t.match(await store.rotateRefreshToken('first', { hash: 'second', createdAt: now, expiresAt: now + 60_000 }, now, { clientId: 'first-party', jkt: null, scopes: [] }), { outcome: 'rotated' },
      'tried again, it rotates')
  })

  t.test('a store whose server stops: StoreUnavailableError at once, and it answers again once the server is back, without reopening', async t => {
    const store = await PostgresStore.open(cluster.url, { schema: unique('failures_') })
    t.teardown(() => store.close())
    await store.ping()
    await cluster.stop('fast')
    for (const call of [() => store.ping(), () => store.findUserByUsername('dave'), () => store.rotateRefreshToken('x', { hash: 'y', createdAt: 0, expiresAt: 1 }, 0, { clientId: 'first-party', jkt: null, scopes: [] })]) {
      const error = await call().then(() => null, (error: unknown) => error)
      t.type(error, StoreUnavailableError)
      t.match((error as Error).cause, { code: 'ECONNREFUSED' })
    }
    await cluster.start()
    await t.resolves(store.ping())
    t.equal(await store.findUserByUsername('dave'), null)
  })
})
