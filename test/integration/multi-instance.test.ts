import { randomInt } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { openStore } from '../../store/index.js'
import { migrations } from '../../store/postgres-migrations.js'
import { hashRefreshToken } from '../../tokens/refresh.js'
import { PASSWORD } from '../helper.js'
import {
  POSTGRES_URL, REDIS_URL, bearer, call, cli, freshSchema, startServer, token, unique, withPostgres, type Answer, type Server
} from './helper.js'

// two server processes on two ports sharing one PostgreSQL schema and one Redis
// behave as one server (README "Production: PostgreSQL, Redis, several instances").

const SKIP = POSTGRES_URL === '' || REDIS_URL === '' ? 'TEST_POSTGRES_URL/TEST_REDIS_URL not set: multi-instance tests skipped' : false
const WRONG_PASSWORD = 'not the password of this user'
/** docs/contract.md §9: failures in a row for one username from one address before 429. */
const PAIR_LIMIT = 10
/** docs/contract.md §9: how soon every instance refuses an access token revoked on one of them. */
const REVOCATION_DELAY_MS = 1000

/**
 * A loopback address of this run's own (Linux routes all of 127.0.0.0/8 to the loopback interface),
 * because Redis keeps each address's failure count for 15 minutes across runs: on 127.0.0.1 every
 * run would add to one count until its limit of 100 refused every login. Where only 127.0.0.1
 * exists, 127.0.0.1 it is.
 */
async function loopbackAddress (): Promise<string> {
  const address = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
  const probe = createServer().listen(0, address)
  try {
    await once(probe, 'listening')
    return address
  } catch {
    return '127.0.0.1'
  } finally {
    probe.close()
  }
}

async function login (server: Server, username: string, password = PASSWORD, localAddress?: string): Promise<Answer> {
  return await token(server, { grant_type: 'password', username, password }, localAddress)
}

async function refresh (server: Server, refreshToken: string): Promise<Answer> {
  return await token(server, { grant_type: 'refresh_token', refresh_token: refreshToken })
}

function assertInvalidGrant (t: Test, answer: Answer, message: string): void {
  t.equal(answer.status, 400, message, { body: answer.body })
  t.equal(answer.json().error, 'invalid_grant', message)
}

async function failLogins (t: Test, server: Server, name: string, username: string, times: number, localAddress: string): Promise<void> {
  for (let attempt = 1; attempt <= times; attempt++) {
    assertInvalidGrant(t, await login(server, username, WRONG_PASSWORD, localAddress), `wrong password ${attempt} on ${name}`)
  }
}

t.test('two instances sharing PostgreSQL and Redis behave as one server', { skip: SKIP }, async t => {
  const { schema, url } = freshSchema(t, 'mi_')
  const env = { DATABASE_URL: url, REDIS_URL, REFRESH_REUSE_GRACE: '1' }
  // Spawned in one tick, before either is awaited: both migrate the empty schema and look for a first signing key at once.
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)])
  const store = await openStore(url)
  t.teardown(() => store.close())
  const username = unique('mi-user-')

  t.test('started at the same instant on an empty schema, they applied each migration once and made one key', async t => {
    const { rows } = await withPostgres(schema, async client =>
      await client.query<{ version: number, applied: number }>(
        'SELECT version, count(*)::integer AS applied FROM schema_migrations GROUP BY version ORDER BY version'
      ))
    t.same(rows, migrations.map(migration => ({ version: migration.version, applied: 1 })), 'each version once')
    const keys = await store.listSigningKeys()
    t.equal(keys.length, 1, 'one signing key')
    const [jwksA, jwksB] = await Promise.all([call(`${a.url}/.well-known/jwks.json`), call(`${b.url}/.well-known/jwks.json`)])
    t.equal(jwksA.status, 200)
    t.equal(jwksB.status, 200)
    t.same(jwksA.json(), jwksB.json(), 'both serve the same JWKS')
    t.same(jwksA.json().keys.map((key: { kid: string }) => key.kid), keys.map(key => key.kid), 'the stored key')
  })

  t.test('a user created with the CLI on the shared schema', async t => {
    const { code, stderr } = await cli(t, { DATABASE_URL: url }, ['user', 'add', username, '--scopes', 'me items', '--password-stdin'], PASSWORD).done
    t.equal(code, 0, 'user add exits 0', { stderr })
  })

  let spent = ''
  let newest = ''
  let newestAccess = ''

  t.test('logged in on A, the access token works on B; B refreshes A\'s refresh token', async t => {
    const loggedIn = await login(a, username)
    t.equal(loggedIn.status, 200, 'login on A', { body: loggedIn.body })
    const me = await bearer(b, '/users/me', loggedIn.json().access_token)
    t.equal(me.status, 200, '/users/me on B', { body: me.body })
    t.equal(me.json().username, username)

    spent = loggedIn.json().refresh_token
    const refreshed = await refresh(b, spent)
    t.equal(refreshed.status, 200, 'refresh on B', { body: refreshed.body })
    newest = refreshed.json().refresh_token
    newestAccess = refreshed.json().access_token
    t.not(newest, spent, 'a new refresh token')
    t.equal((await bearer(a, '/users/me', refreshed.json().access_token)).status, 200, 'B\'s access token works on A')
    // REFRESH_REUSE_GRACE=1: a second tab racing the first is refused, and nothing else happens.
    assertInvalidGrant(t, await refresh(a, spent), 'the spent token on A within the grace')
    const found = await store.findRefreshToken(hashRefreshToken(newest))
    t.equal(found?.family.revokedAt, null, 'the family lives on')
  })

  t.test('the spent token presented on A after the grace revokes the family on B too', async t => {
    await sleep(1200)
    // Known to B before the theft is caught, so that B must learn of the revocation to refuse it.
    t.equal((await bearer(b, '/status', newestAccess)).status, 200, 'the family\'s access token works on B before')
    assertInvalidGrant(t, await refresh(a, spent), 'the spent token on A after the grace')
    const since = Date.now()
    let status: Answer
    for (;;) {
      status = await bearer(b, '/status', newestAccess)
      if (status.status !== 200 || Date.now() - since > REVOCATION_DELAY_MS) break
      await sleep(50)
    }
    t.equal(status.status, 401, `the family's access token refused on B ${Date.now() - since} ms after the reuse on A`)
    assertInvalidGrant(t, await refresh(b, newest), 'the family\'s newest token on B')
    const found = await store.findRefreshToken(hashRefreshToken(newest))
    t.not(found?.family.revokedAt ?? null, null, 'the family is revoked in the store')
    t.equal(found?.token.spentAt, null, 'its newest token was refused, not spent')
  })

  t.test(`an access token revoked on A is refused on B within ${REVOCATION_DELAY_MS} ms`, async t => {
    const loggedIn = await login(a, username)
    t.equal(loggedIn.status, 200, 'login on A', { body: loggedIn.body })
    const accessToken: string = loggedIn.json().access_token
    // Answered once first, so that B remembers the token as not revoked when the revocation comes.
    t.equal((await bearer(b, '/status', accessToken)).status, 200, 'valid on B before')
    const revoked = await call(`${a.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accessToken }).toString()
    })
    t.equal(revoked.status, 200, 'revoked on A', { body: revoked.body })
    const since = Date.now()
    let status: Answer
    for (;;) {
      status = await bearer(b, '/status', accessToken)
      if (status.status !== 200 || Date.now() - since > REVOCATION_DELAY_MS) break
      await sleep(50)
    }
    t.equal(status.status, 401, `refused on B ${Date.now() - since} ms after the revocation`)
    t.match(status.headers['www-authenticate'], /error="invalid_token"/)
  })

  t.test('the failed-login limit is counted across both through Redis', async t => {
    const address = await loopbackAddress()
    await failLogins(t, a, 'A', username, PAIR_LIMIT / 2, address)
    await failLogins(t, b, 'B', username, PAIR_LIMIT / 2, address)
    for (const [name, server] of [['A', a], ['B', b]] as const) {
      const limited = await login(server, username, PASSWORD, address)
      t.equal(limited.status, 429, `the right password on ${name}`, { body: limited.body })
      t.match(limited.headers['retry-after'], /^[1-9]\d*$/, `Retry-After on ${name}`)
      t.equal(limited.json().error, 'invalid_request')
    }
  })

  t.test('without Redis, each instance counts on its own', async t => {
    const alone = { DATABASE_URL: url, REFRESH_REUSE_GRACE: '1' }
    const [c, d] = await Promise.all([startServer(t, alone), startServer(t, alone)])
    const address = await loopbackAddress()
    // More than the limit in all, fewer on each.
    await failLogins(t, c, 'C', username, PAIR_LIMIT / 2 + 1, address)
    await failLogins(t, d, 'D', username, PAIR_LIMIT / 2 + 1, address)
    for (const [name, server] of [['C', c], ['D', d]] as const) {
      const answer = await login(server, username, PASSWORD, address)
      t.equal(answer.status, 200, `the right password on ${name}`, { body: answer.body })
    }
  })
})
