import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import {
  build, addUser, login, PASSWORD, token, refresh, me, claims, refreshTokenOf, assertOAuthError, assertInvalidToken, createClient, cheapHasher
} from '../helper.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** A successful token response: status, no-store headers, the body's shape. */
function assertTokens (t: Test, response: LightMyRequestResponse, scope: string): { access_token: string, refresh_token: string } {
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  t.equal(response.headers.pragma, 'no-cache')
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
  t.equal(body.token_type, 'bearer')
  t.equal(body.expires_in, 900)
  t.equal(body.scope, scope)
  t.equal(claims(body.access_token).scope, scope, 'the access token carries the scope the response names')
  return body
}

t.test('a login returns an opaque refresh token of 256 random bits', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const first = refreshTokenOf(await login(app, 'johndoe'))
  const second = refreshTokenOf(await login(app, 'johndoe'))
  for (const value of [first, second]) {
    t.match(value, /^[A-Za-z0-9_-]{43}$/)
    t.equal(Buffer.from(value, 'base64url').length, 32)
  }
  t.not(first, second, 'each login gets its own')
})

t.test('refresh: new tokens, the old refresh token is spent', async t => {
  const { app, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe')
  const spent = refreshTokenOf(logged)

  const response = await refresh(app, spent)
  const body = assertTokens(t, response, 'me items')
  t.not(body.access_token, logged.access_token)
  t.not(body.refresh_token, spent)
  t.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/)
  t.not(claims(body.access_token).jti, claims(logged.access_token).jti)
  t.equal(claims(body.access_token).sub, claims(logged.access_token).sub)
  t.equal(claims(body.access_token).client_id, 'first-party')

  const user = await me(app, body.access_token)
  t.equal(user.statusCode, 200, user.body)
  t.equal(user.json().username, 'johndoe')

  assertOAuthError(t, await refresh(app, spent), 400, 'invalid_grant')
  assertTokens(t, await refresh(app, body.refresh_token), 'me items')

  for (const secret of [spent, body.refresh_token, body.access_token, PASSWORD]) {
    t.notOk(logText().includes(secret), 'no log line holds a token or a password')
  }
})

t.test('concurrent refreshes with one token: exactly one succeeds', async t => {
  const stores: Array<{ name: string, instances: (t: Test) => Promise<Array<Awaited<ReturnType<typeof build>>>> }> = [
    { name: 'one instance, memory store', instances: async t => [await build(t)] },
    {
      name: 'two instances on one SQLite file',
      instances: async t => {
        const url = `sqlite:${join(t.testdir(), 'auth.db')}`
        return [await build(t, { DATABASE_URL: url }), await build(t, { DATABASE_URL: url })]
      }
    }
  ]
  for (const { name, instances } of stores) {
    t.test(name, async t => {
      const built = await instances(t)
      const apps = built.map(({ app }) => app)
      const app = apps[0]
      if (app === undefined) throw new Error('no instance')
      await addUser(app.authStore, 'johndoe')
      const spent = refreshTokenOf(await login(app, 'johndoe'))

      const responses = await Promise.all(Array.from({ length: 5 }, async (_, index) => await refresh(apps[index % apps.length] ?? app, spent)))
      const winners = responses.filter(response => response.statusCode === 200)
      t.equal(winners.length, 1, responses.map(response => response.statusCode).join(' '))
      for (const response of responses) {
        if (response.statusCode !== 200) assertOAuthError(t, response, 400, 'invalid_grant')
      }
      // The losers raced within the grace period: the family lives on.
      const winner = winners[0]?.json()
      assertTokens(t, await refresh(app, winner.refresh_token), 'me items')
      t.notOk(built.some(({ logs }) => logs().some(line => line.audit === 'refresh_reuse')), 'a race is not theft')
    })
  }
})

t.test('a spent token within REFRESH_REUSE_GRACE is refused, and the family survives', async t => {
  const { app, logs } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const spent = refreshTokenOf(await login(app, 'johndoe'))
  const newest = assertTokens(t, await refresh(app, spent), 'me items').refresh_token

  assertOAuthError(t, await refresh(app, spent), 400, 'invalid_grant')
  assertOAuthError(t, await refresh(app, spent), 400, 'invalid_grant')
  assertTokens(t, await refresh(app, newest), 'me items')
  t.notOk(logs().some(line => line.audit === 'refresh_reuse'))
})

t.test('a spent token after the grace period revokes its whole family (RFC 9700 §4.14.2)', async t => {
  const { app, logs, logText } = await build(t, { REFRESH_REUSE_GRACE: '0' })
  await addUser(app.authStore, 'johndoe')
  const first = await login(app, 'johndoe')
  const spent = refreshTokenOf(first)
  const rotated = assertTokens(t, await refresh(app, spent), 'me items')
  const newest = rotated.refresh_token
  const otherLogin = await login(app, 'johndoe')
  const other = refreshTokenOf(otherLogin)
  t.equal((await me(app, rotated.access_token)).statusCode, 200)

  await sleep(1100)
  assertOAuthError(t, await refresh(app, spent), 400, 'invalid_grant')
  assertOAuthError(t, await refresh(app, newest), 400, 'invalid_grant')
  // The thief's access tokens end with the family, not 15 minutes later.
  assertInvalidToken(t, await me(app, first.access_token), /revoked/)
  assertInvalidToken(t, await me(app, rotated.access_token), /revoked/)
  t.equal((await me(app, otherLogin.access_token)).statusCode, 200, 'another login lives on')

  const line = logs().find(entry => entry.audit === 'refresh_reuse')
  t.ok(line, 'the reuse is logged')
  t.match(line, { level: 40, audit: 'refresh_reuse', userId: String, familyId: String })
  t.notOk(logText().includes(spent), 'the log line holds no token')
  t.notOk(logText().includes(newest), 'the log line holds no token')

  assertTokens(t, await refresh(app, other), 'me items')
})

t.test('scope on refresh narrows the access token only (RFC 6749 §6)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe', { scopes: ['me', 'items'] })
  const logged = await login(app, 'johndoe')
  t.equal(logged.scope, 'me items')

  const narrowed = assertTokens(t, await refresh(app, refreshTokenOf(logged), { scope: 'me' }), 'me')
  const items = await app.inject({ url: '/users/me/items', headers: { authorization: `Bearer ${narrowed.access_token}` } })
  t.equal(items.statusCode, 403, 'the narrowed access token lacks items')

  const widened = assertTokens(t, await refresh(app, narrowed.refresh_token), 'me items')
  const again = await app.inject({ url: '/users/me/items', headers: { authorization: `Bearer ${widened.access_token}` } })
  t.equal(again.statusCode, 200, again.body)

  assertTokens(t, await refresh(app, widened.refresh_token, { scope: '' }), 'me items')
})

t.test('scope on refresh cannot widen, and a refused scope does not spend the token', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe', { scopes: ['me', 'items'] })
  const refreshToken = refreshTokenOf(await login(app, 'johndoe', { scope: 'me' }))

  const cases = [
    { name: 'a scope the login was not granted', scope: 'me items' },
    { name: 'only a scope the login was not granted', scope: 'items' },
    { name: 'a scope that does not exist', scope: 'admin' }
  ]
  for (const { name, scope } of cases) {
    t.test(name, async t => {
      assertOAuthError(t, await refresh(app, refreshToken, { scope }), 400, 'invalid_scope')
    })
  }
  t.test('the token still refreshes afterwards', async t => {
    assertTokens(t, await refresh(app, refreshToken), 'me')
  })
})

t.test('malformed and unknown refresh requests', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe')

  const cases: Array<{ name: string, fields: Record<string, string>, error: string }> = [
    { name: 'missing refresh_token', fields: { grant_type: 'refresh_token' }, error: 'invalid_request' },
    { name: 'empty refresh_token', fields: { grant_type: 'refresh_token', refresh_token: '' }, error: 'invalid_request' },
    { name: 'unknown refresh token', fields: { grant_type: 'refresh_token', refresh_token: 'A'.repeat(43) }, error: 'invalid_grant' },
    { name: 'garbage refresh token', fields: { grant_type: 'refresh_token', refresh_token: 'not a token' }, error: 'invalid_grant' },
    { name: 'an access token as refresh token', fields: { grant_type: 'refresh_token', refresh_token: logged.access_token }, error: 'invalid_grant' }
  ]
  for (const { name, fields, error } of cases) {
    t.test(name, async t => {
      assertOAuthError(t, await token(app, fields), 400, error)
    })
  }
  t.test('repeated refresh_token', async t => {
    const payload = `grant_type=refresh_token&refresh_token=${refreshTokenOf(logged)}&refresh_token=${refreshTokenOf(logged)}`
    assertOAuthError(t, await app.inject({ method: 'POST', url: '/token', payload, headers: FORM }), 400, 'invalid_request')
  })
})

t.test('expiry', async t => {
  t.test('an unused refresh token expires after REFRESH_TOKEN_TTL', async t => {
    const { app } = await build(t, { REFRESH_TOKEN_TTL: '1' })
    await addUser(app.authStore, 'johndoe')
    const refreshToken = refreshTokenOf(await login(app, 'johndoe'))
    await sleep(1100)
    assertOAuthError(t, await refresh(app, refreshToken), 400, 'invalid_grant')
  })

  t.test('refreshing does not extend a family past REFRESH_FAMILY_LIFETIME', async t => {
    const { app } = await build(t, { REFRESH_FAMILY_LIFETIME: '1' })
    await addUser(app.authStore, 'johndoe')
    let refreshToken = refreshTokenOf(await login(app, 'johndoe'))
    const loggedInAt = Date.now()
    for (let round = 0; round < 2; round++) {
      await sleep(300)
      refreshToken = assertTokens(t, await refresh(app, refreshToken), 'me items').refresh_token
    }
    await sleep(Math.max(0, loggedInAt + 1100 - Date.now()))
    assertOAuthError(t, await refresh(app, refreshToken), 400, 'invalid_grant')
  })
})

t.test('a password change or disabling ends every login made before it', async t => {
  const hasher = cheapHasher()
  const cases = [
    {
      name: 'password change',
      change: async () => ({ passwordHash: await hasher.hash('another long enough passphrase'), revokeTokens: true })
    },
    { name: 'disabling', change: async () => ({ disabled: true }) },
    { name: 'disabling with revokeTokens', change: async () => ({ disabled: true, revokeTokens: true }) }
  ]
  for (const { name, change } of cases) {
    t.test(name, async t => {
      const { app } = await build(t)
      const user = await addUser(app.authStore, 'johndoe')
      const logged = await login(app, 'johndoe')
      const spent = refreshTokenOf(logged)
      const rotated = assertTokens(t, await refresh(app, spent), 'me items')

      t.ok(await app.authStore.updateUser(user.id, await change()))
      assertInvalidToken(t, await me(app, logged.access_token))
      assertInvalidToken(t, await me(app, rotated.access_token))
      assertOAuthError(t, await refresh(app, rotated.refresh_token), 400, 'invalid_grant')
      assertOAuthError(t, await refresh(app, rotated.refresh_token), 400, 'invalid_grant')
    })
  }

  t.test('re-enabling does not revive a login ended by disabling with revokeTokens', async t => {
    const { app } = await build(t)
    const user = await addUser(app.authStore, 'johndoe')
    const logged = await login(app, 'johndoe')
    await app.authStore.updateUser(user.id, { disabled: true, revokeTokens: true })
    await app.authStore.updateUser(user.id, { disabled: false })
    assertInvalidToken(t, await me(app, logged.access_token))
    assertOAuthError(t, await refresh(app, refreshTokenOf(logged)), 400, 'invalid_grant')
    t.equal((await me(app, (await login(app, 'johndoe')).access_token)).statusCode, 200, 'a new login works')
  })
})

t.test('a refresh token is bound to the client it was issued to (RFC 6749 §6)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await createClient(app, 'client-a', 'secret of client a')
  await createClient(app, 'client-b', 'secret of client b')
  await createClient(app, 'public-c', null)
  const asA = { client_id: 'client-a', client_secret: 'secret of client a' }
  const refreshToken = refreshTokenOf(await login(app, 'johndoe', asA))

  const others: Array<{ name: string, fields: Record<string, string> }> = [
    { name: 'another confidential client', fields: { client_id: 'client-b', client_secret: 'secret of client b' } },
    { name: 'a public client', fields: { client_id: 'public-c' } },
    { name: 'no client (first-party)', fields: {} }
  ]
  for (const { name, fields } of others) {
    t.test(name, async t => {
      assertOAuthError(t, await refresh(app, refreshToken, fields), 400, 'invalid_grant')
    })
  }
  t.test('the client it was issued to can still use it', async t => {
    const body = assertTokens(t, await refresh(app, refreshToken, asA), 'me items')
    t.equal(claims(body.access_token).client_id, 'client-a')
  })
  t.test('a first-party refresh token presented by a client', async t => {
    const firstParty = refreshTokenOf(await login(app, 'johndoe'))
    assertOAuthError(t, await refresh(app, firstParty, asA), 400, 'invalid_grant')
    assertTokens(t, await refresh(app, firstParty), 'me items')
  })
})
