import { closeSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as pause } from 'node:timers/promises'
import Database from 'better-sqlite3'
import t from 'tap'
import { StoreUnavailableError, openStore } from '../../store/index.js'
import { hashRefreshToken } from '../../tokens/refresh.js'
import { PASSWORD, addUser } from '../helper.js'
import { bearer, call, kill, startServer, token, type Answer, type Server } from './helper.js'
import { tmpfs, tmpfsSkip } from './services.js'

// SQLite on a volume that fills up, a real one (a small tmpfs): writes answer 503 with Retry-After,
// reads go on, /health says the store does not answer; once space is freed every write succeeds
// again, a refresh refused meanwhile succeeds when tried again, the WAL keeps the space free, and the
// database is intact with every write the server acknowledged.

const VOLUME = 2 * 1024 * 1024
/** Logins after the volume is freed: with SQLite's own WAL settings they would grow it past the limit below. */
const LOGINS_AFTER = 60
/** store/sqlite.ts's journal_size_limit. */
const WAL_SIZE_LIMIT = 512 * 1024

/** Writes zeroes to `path` until the volume has no room left. */
function fill (path: string): void {
  const fd = openSync(path, 'w')
  try {
    for (const size of [64 * 1024, 4096, 512]) {
      const chunk = Buffer.alloc(size)
      try {
        for (;;) writeSync(fd, chunk)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
      }
    }
  } finally {
    closeSync(fd)
  }
}

const login = async (server: Server): Promise<Answer> => await token(server, { grant_type: 'password', username: 'alice', password: PASSWORD })

/** Asks for /health until its status is `status`, every 20 ms, at most 100 times; returns the last answer. */
async function health (server: Server, status: number): Promise<Answer> {
  let answer = await call(`${server.url}/health`)
  for (let attempt = 1; attempt < 100 && answer.status !== status; attempt++) {
    await pause(20)
    answer = await call(`${server.url}/health`)
  }
  return answer
}

t.test('SQLite on a full volume', { skip: tmpfsSkip() }, async t => {
  const volume = tmpfs(t, VOLUME)
  const file = join(volume, 'auth.db')
  const store = await openStore(`sqlite:${file}`)
  await addUser(store, 'alice')
  await store.close()
  const server = await startServer(t, { DATABASE_URL: `sqlite:${file}` })

  /** Every refresh token the server answered with: each must be in the database at the end. */
  const acknowledged: string[] = []
  const sessions = await Promise.all([1, 2, 3, 4].map(async () => (await login(server)).json()))
  acknowledged.push(...sessions.map(session => session.refresh_token))

  fill(join(volume, 'filler'))
  // A write fails once the WAL must grow. A checkpoint, which /health runs, can let the WAL start over
  // and take writes again, unless it must grow the database itself: then no write can succeed until
  // space is freed, and /health says so. Writes go on until then.
  const answers: Answer[] = []
  /** The sessions whose current refresh token was refused: the rotation was rolled back. */
  const refused = new Set<typeof sessions[number]>()
  const write = async (attempt: number): Promise<Answer> => {
    const session = sessions[attempt % sessions.length]
    const answer = attempt % 2 === 0 ? await login(server) : await token(server, { grant_type: 'refresh_token', refresh_token: session.refresh_token })
    answers.push(answer)
    if (answer.status === 200) acknowledged.push(answer.json().refresh_token)
    if (attempt % 2 === 1 && answer.status === 200) {
      session.refresh_token = answer.json().refresh_token
      refused.delete(session)
    } else if (attempt % 2 === 1) {
      refused.add(session)
    }
    return answer
  }
  let attempts = 0
  let healthy = 0
  let unavailable: Answer | undefined
  while (attempts < 2000 && unavailable === undefined) {
    if ((await write(attempts++)).status !== 503) continue
    const health = await call(`${server.url}/health`)
    if (health.status === 503) unavailable = health
    else healthy++
  }
  t.ok(unavailable, '/health: the store does not answer')
  t.strictSame(unavailable?.json(), { status: 'unavailable', unavailable: ['store'] })
  // A refused refresh, to try again once space is freed (a failed write can leave the next one room).
  while (refused.size === 0 && attempts < 2000) await write(attempts++)
  const counts = { 200: answers.filter(answer => answer.status === 200).length, 503: answers.filter(answer => answer.status === 503).length }
  t.same(answers.filter(answer => ![200, 503].includes(answer.status)).map(answer => answer.status), [], 'every write answers 200 or 503, never 500')
  for (const answer of answers.filter(answer => answer.status === 503)) {
    t.equal(answer.headers['retry-after'], '5')
    t.strictSame(answer.json(), { error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable; retry shortly' })
  }
  const me = await bearer(server, '/users/me', sessions[0]?.access_token)
  t.equal(me.status, 200, `reads go on: ${me.body}`)

  unlinkSync(join(volume, 'filler'))
  t.equal((await health(server, 200)).status, 200, '/health once space is freed')
  t.ok(refused.size > 0, 'a refresh was refused')
  for (const session of refused) {
    const retried = await token(server, { grant_type: 'refresh_token', refresh_token: session.refresh_token })
    t.equal(retried.status, 200, `a refresh refused for lack of space succeeds when tried again: ${retried.body}`)
    if (retried.status === 200) acknowledged.push(retried.json().refresh_token)
  }
  // One after another: logins of one user from one address at once are counted before they are
  // checked, and more than ten at once would be refused as a guessing attack.
  const after = []
  for (let index = 0; index < LOGINS_AFTER; index++) after.push(await login(server))
  t.same(after.filter(answer => answer.status !== 200).map(answer => answer.body), [], `${LOGINS_AFTER} logins once space is freed`)
  acknowledged.push(...after.filter(answer => answer.status === 200).map(answer => answer.json().refresh_token))
  const wal = statSync(`${file}-wal`).size
  t.ok(wal <= WAL_SIZE_LIMIT, `the WAL keeps within ${WAL_SIZE_LIMIT} bytes: ${wal}`)
  t.equal(server.child.exitCode, null, 'the server is still running')

  await kill(server.child)
  const db = new Database(file)
  try {
    t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'the database is intact')
    const stored = db.prepare<[string], number>('SELECT 1 FROM refresh_tokens WHERE hash = ?').pluck()
    t.same(acknowledged.filter(refresh => stored.get(hashRefreshToken(refresh)) === undefined), [], `all ${acknowledged.length} acknowledged refresh tokens are stored`)
  } finally {
    db.close()
  }
  t.comment(`on the full volume: ${counts[200]} writes succeeded and ${counts[503]} were refused; /health said 200 after ${healthy} refusals ` +
    `(its checkpoint let the WAL start over), then 503; ${refused.size} refused refreshes succeeded when tried again; ` +
    `WAL ${wal} bytes after ${LOGINS_AFTER} more logins`)
})

t.test('the store itself throws StoreUnavailableError on a full volume, never reports a lost write as done, and writes again once space is freed', { skip: tmpfsSkip() }, async t => {
  const volume = tmpfs(t, VOLUME)
  const store = await openStore(`sqlite:${join(volume, 'auth.db')}`)
  t.teardown(() => store.close())
  const first = await addUser(store, 'first')
  fill(join(volume, 'filler'))
  const created: string[] = []
  let error: unknown
  for (let attempt = 0; attempt < 1000 && error === undefined; attempt++) {
    await addUser(store, `user${attempt}`).then(user => created.push(user.username), (thrown: unknown) => { error = thrown })
  }
  t.type(error, StoreUnavailableError)
  t.match((error as Error).cause, { code: 'SQLITE_FULL' })
  let fullName: string | null = null
  for (let attempt = 0; attempt < 20; attempt++) {
    await store.updateUser(first.id, { fullName: `name ${attempt}` })
      .then(() => { fullName = `name ${attempt}` }, (thrown: unknown) => { t.type(thrown, StoreUnavailableError) })
  }
  await t.rejects(store.ping(), StoreUnavailableError, 'ping fails while the WAL cannot be copied back')

  unlinkSync(join(volume, 'filler'))
  await t.resolves(store.ping())
  const found = await Promise.all(created.map(async username => await store.findUserByUsername(username)))
  t.same(created.filter((_username, index) => found[index] === null), [], `all ${created.length} users reported created are stored`)
  t.equal((await store.findUserById(first.id))?.fullName, fullName, 'the last change reported done is the one stored')
  await t.resolves(addUser(store, 'after'))
})
