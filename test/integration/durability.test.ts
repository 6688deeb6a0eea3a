import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { openStore } from '../../store/index.js'
import { hashRefreshToken } from '../../tokens/refresh.js'
import { PASSWORD, addUser } from '../helper.js'
import { POSTGRES_URL, bearer, cli, freshSchema, kill, startServer, token, withPostgres, type Server } from './helper.js'

// the server SIGKILLed in the middle of a burst of user creations, logins and
// refreshes loses no write it acknowledged, and leaves no refresh family half rotated.

const SEED_USERS = 3
/** Families refreshed over and over during the burst, one chain of requests each. */
const CHAINS = 6
const LOGIN_WORKERS = 2
const CLI_WORKERS = 3
/** How many of the `user add` processes in flight are SIGKILLed along with the server. */
const CLI_VICTIMS = 2
/**
 * The server is killed once the burst has acknowledged this much, so that a slow machine still kills
 * it in the middle of one, yet never before `KILL_AFTER_MS` nor after `KILL_BY_MS`.
 */
const KILL_WHEN = { refreshes: 40, userAdds: 2 }
const KILL_AFTER_MS = 500
const KILL_BY_MS = 2500
/** How long `user add` goes on with the server down. */
const CLI_AFTER_KILL_MS = 800
/** Requests at once when checking every access token on the restarted server. */
const CHECK_CONCURRENCY = 8

interface Family {
  /** Every refresh token the server answered with in this family, oldest first. */
  tokens: string[]
  /** The token of a refresh that was sent and never answered: the server may have rotated it and died before saying so. */
  unanswered: string | null
}

interface LiveCount {
  id: string
  revoked: boolean
  /** Unspent, unexpired tokens. */
  live: number
}

interface Backend {
  name: string
  skip: string | false
  /** A fresh database, and a look at every family's live tokens in it. */
  open: (t: Test) => { url: string, liveCounts: (now: number) => Promise<LiveCount[]> }
}

/** Every family with its count of live tokens, in either database: only the placeholder of `now` differs. */
const liveCountsSql = (now: string): string => `
  SELECT f.id, f.revoked_at IS NOT NULL AS revoked,
    (SELECT CAST(count(*) AS INTEGER) FROM refresh_tokens r WHERE r.family_id = f.id AND r.spent_at IS NULL AND r.expires_at > ${now}) AS live
  FROM refresh_families f
`

const backends: Backend[] = [
  {
    name: 'SQLite',
    skip: false,
    open: t => {
      const file = join(t.testdir(), 'auth.db')
      return {
        url: `sqlite:${file}`,
        liveCounts: async now => {
          const db = new Database(file, { fileMustExist: true })
          try {
            const rows = db.prepare<[number], { id: string, revoked: number, live: number }>(liveCountsSql('?')).all(now)
            return rows.map(row => ({ id: row.id, revoked: row.revoked === 1, live: row.live }))
          } finally {
            db.close()
          }
        }
      }
    }
  },
  {
    name: 'PostgreSQL',
    skip: POSTGRES_URL === '' ? 'TEST_POSTGRES_URL not set: PostgreSQL durability test skipped' : false,
    open: t => {
      const { schema, url } = freshSchema(t, 'du_')
      return {
        url,
        liveCounts: async now => await withPostgres(schema, async client => {
          const { rows } = await client.query<LiveCount>(liveCountsSql('$1'), [now])
          return rows
        })
      }
    }
  }
]

async function login (server: Server, username: string) {
  return await token(server, { grant_type: 'password', username, password: PASSWORD })
}

/** Runs `work` on every item, `concurrency` at a time. */
async function eachLimited<T> (items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++] as T)
  }))
}

for (const backend of backends) {
  t.test(`${backend.name}: SIGKILL in a burst of writes loses no acknowledged one and half-rotates no family`, { skip: backend.skip }, async t => {
    const { url, liveCounts } = backend.open(t)
    const env = { DATABASE_URL: url }
    const seeded: string[] = []
    const seedStore = await openStore(url)
    for (let index = 0; index < SEED_USERS; index++) seeded.push((await addUser(seedStore, `seed-${index}`)).username)
    await seedStore.close()
    const server = await startServer(t, env)

    /** Anything a request or command answered that it should not have, before the kill. */
    const unexpected: string[] = []
    const chained: Family[] = []
    const loggedIn: Family[] = []
    const accessTokens: string[] = []
    const created: string[] = []
    let refreshes = 0

    for (let index = 0; index < CHAINS; index++) {
      const answer = await login(server, seeded[index % SEED_USERS]!)
      t.equal(answer.status, 200, 'a login before the burst', { body: answer.body })
      chained.push({ tokens: [answer.json().refresh_token], unanswered: null })
      accessTokens.push(answer.json().access_token)
    }

    let killed = false
    let over = false
    const chains = chained.map(async family => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the flag is set elsewhere while this loop awaits
      while (!killed) {
        const presented = family.tokens.at(-1)!
        let answer
        try {
          answer = await token(server, { grant_type: 'refresh_token', refresh_token: presented })
        } catch (error) {
          if (!killed) unexpected.push(`a refresh failed: ${String(error)}`)
          family.unanswered = presented
          return
        }
        if (answer.status !== 200) {
          unexpected.push(`a refresh answered ${answer.status}: ${answer.body}`)
          return
        }
        family.tokens.push(answer.json().refresh_token)
        accessTokens.push(answer.json().access_token)
        refreshes++
      }
    })
    const logins = Array.from({ length: LOGIN_WORKERS }, async (_, worker) => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the flag is set elsewhere while this loop awaits
      for (let attempt = 0; !killed; attempt++) {
        let answer
        try {
          answer = await login(server, seeded[(worker + attempt) % SEED_USERS]!)
        } catch (error) {
          if (!killed) unexpected.push(`a login failed: ${String(error)}`)
          return
        }
        if (answer.status !== 200) {
          unexpected.push(`a login answered ${answer.status}: ${answer.body}`)
          return
        }
        loggedIn.push({ tokens: [answer.json().refresh_token], unanswered: null })
        accessTokens.push(answer.json().access_token)
      }
    })
    const running = new Set<ChildProcess>()
    const victims = new Set<ChildProcess>()
    let serial = 0
    const adds = Array.from({ length: CLI_WORKERS }, async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the flag is set elsewhere while this loop awaits
      while (!over) {
        const username = `burst-${serial++}`
        const run = cli(t, env, ['user', 'add', username, '--scopes', 'me items', '--password-stdin'], PASSWORD)
        running.add(run.child)
        const { code, stderr } = await run.done
        running.delete(run.child)
        if (code === 0) created.push(username)
        else if (!victims.has(run.child)) unexpected.push(`user add ${username} exited ${code}: ${stderr}`)
      }
    })

    const started = Date.now()
    await sleep(KILL_AFTER_MS)
    while ((refreshes < KILL_WHEN.refreshes || created.length < KILL_WHEN.userAdds) && Date.now() - started < KILL_BY_MS) await sleep(20)
    killed = true
    for (const child of [...running].slice(0, CLI_VICTIMS)) {
      victims.add(child)
      child.kill('SIGKILL')
    }
    const killedAfter = Date.now() - started
    await kill(server.child)
    await Promise.all([...chains, ...logins])
    // The CLI needs no server: its writes go on while the server is down.
    await sleep(CLI_AFTER_KILL_MS)
    over = true
    await Promise.all(adds)
    t.same(unexpected, [], 'nothing but the kill interrupted the burst')

    const restarted = await startServer(t, env)
    const store = await openStore(url)
    t.teardown(() => store.close())

    const listing = await cli(t, env, ['user', 'list', '--json']).done
    t.equal(listing.code, 0, 'user list', { stderr: listing.stderr })
    const listed = new Set((JSON.parse(listing.stdout) as Array<{ username: string }>).map(user => user.username))
    const acknowledgedUsers = [...seeded, ...created]
    t.same(acknowledgedUsers.filter(username => !listed.has(username)), [], `all ${acknowledgedUsers.length} acknowledged users are there`)

    // Looked at before the restarted server refreshes anything.
    const counts = new Map((await liveCounts(Date.now())).map(count => [count.id, count]))
    t.same([...counts.values()].filter(count => count.revoked || count.live !== 1), [],
      `each of the ${counts.size} families in the store is live with exactly one unspent token`)

    const families = [...chained, ...loggedIn]
    const problems: string[] = []
    /** The newest acknowledged tokens that are still live, to be refreshed on the restarted server. */
    const stillLive: string[] = []
    let answerLost = 0
    for (const [index, family] of families.entries()) {
      for (const [position, value] of family.tokens.entries()) {
        const newest = position === family.tokens.length - 1
        const found = await store.findRefreshToken(hashRefreshToken(value))
        if (found === null) {
          problems.push(`family ${index}: acknowledged token ${position} is lost`)
          continue
        }
        if (found.family.revokedAt !== null) problems.push(`family ${index} is revoked`)
        if (newest && counts.get(found.family.id)?.live !== 1) {
          problems.push(`family ${index} has ${counts.get(found.family.id)?.live ?? 0} live tokens`)
        }
        if (found.token.spentAt === null) {
          if (newest) stillLive.push(value)
          else problems.push(`family ${index}: token ${position} was rotated, yet is unspent`)
        } else if (newest) {
          // Spent though never answered: its successor, which nobody received, is the family's one live token.
          if (family.unanswered === value) answerLost++
          else problems.push(`family ${index}: its newest token is spent, and no refresh of it was in flight`)
        }
      }
    }
    t.same(problems, [], `no acknowledged token lost, no family half rotated (${families.length} families)`)

    const refused: string[] = []
    for (const value of stillLive) {
      const answer = await token(restarted, { grant_type: 'refresh_token', refresh_token: value })
      if (answer.status !== 200) refused.push(`${answer.status} ${answer.body}`)
    }
    t.same(refused, [], `the ${stillLive.length} live newest tokens refresh on the restarted server`)

    const rejected: string[] = []
    await eachLimited(accessTokens, CHECK_CONCURRENCY, async accessToken => {
      const answer = await bearer(restarted, '/status', accessToken)
      if (answer.status !== 200) rejected.push(`${answer.status} ${answer.body}`)
    })
    t.same(rejected, [], `the ${accessTokens.length} acknowledged access tokens verify on the restarted server`)

    const acknowledgedLogins = CHAINS + loggedIn.length
    t.comment(`${backend.name}: ${acknowledgedUsers.length + acknowledgedLogins + refreshes} acknowledged writes checked: ` +
      `${created.length} user adds (+${SEED_USERS} seeded), ${acknowledgedLogins} logins, ${refreshes} refreshes; ` +
      `server killed after ${killedAfter} ms, with ${victims.size} user add processes; ` +
      `${families.length} families checked, ${answerLost} rotated with the answer lost, ${counts.size} families in the store`)
  })
}
