import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, addUser, login, refresh, me, claims, refreshTokenOf, assertOAuthError, assertInvalidToken, createClient } from '../helper.js'
import { generateSigningKey } from '../../tokens/keys.js'
import { withLowS } from '../../tokens/access.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** POSTs a form body to /revoke. */
async function revoke (
  app: FastifyInstance,
  fields: Record<string, string>,
  headers: Record<string, string> = {}
): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/revoke', payload: new URLSearchParams(fields).toString(), headers: { ...FORM, ...headers } })
}

/** RFC 7009 §2.2: 200 with an empty JSON object, never cached. */
function assertRevoked (t: Test, response: LightMyRequestResponse): void {
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  t.match(response.headers['content-type'], /^application\/json/)
  t.strictSame(response.json(), {})
}

/** The jtis of every access token the app's store holds a revocation of. */
async function revokedJtis (app: FastifyInstance): Promise<string[]> {
  return (await app.authStore.revocationsSince(0)).filter(revocation => revocation.kind === 'access_token').map(revocation => revocation.id)
}

/** Polls until `check` answers 401 or a second has passed; returns the last answer and how long it took. */
async function refusedWithin (check: () => Promise<LightMyRequestResponse>): Promise<{ response: LightMyRequestResponse, ms: number }> {
  const start = Date.now()
  let response = await check()
  while (response.statusCode === 200 && Date.now() - start < 1000) {
    await new Promise(resolve => setTimeout(resolve, 25))
    response = await check()
  }
  return { response, ms: Date.now() - start }
}

t.test('revoking an access token (RFC 7009)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await addUser(app.authStore, 'alice')
  const revoked = await login(app, 'johndoe')
  const sibling = await login(app, 'johndoe')
  const other = await login(app, 'alice')
  const jti = String(claims(revoked.access_token).jti)

  t.equal((await me(app, revoked.access_token)).statusCode, 200, 'works before')
  t.notOk((await revokedJtis(app)).includes(jti))

  assertRevoked(t, await revoke(app, { token: revoked.access_token }))
  t.ok((await revokedJtis(app)).includes(jti), 'the store holds the revocation')
  assertInvalidToken(t, await me(app, revoked.access_token), /revoked/)

  t.equal((await me(app, sibling.access_token)).statusCode, 200, 'another token of the same user still works')
  t.equal((await me(app, other.access_token)).statusCode, 200, 'another user\'s token still works')
  t.equal((await refresh(app, refreshTokenOf(revoked))).statusCode, 200, 'the login\'s refresh token is not an access token')

  t.test('revoking it again is fine', async t => {
    assertRevoked(t, await revoke(app, { token: revoked.access_token, token_type_hint: 'access_token' }))
    assertInvalidToken(t, await me(app, revoked.access_token), /revoked/)
  })
  t.test('a misleading token_type_hint is only a hint', async t => {
    assertRevoked(t, await revoke(app, { token: sibling.access_token, token_type_hint: 'refresh_token' }))
    assertInvalidToken(t, await me(app, sibling.access_token), /revoked/)
  })
})

t.test('revoking a refresh token revokes its whole family', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')

  t.test('the newest token of the family', async t => {
    const first = refreshTokenOf(await login(app, 'johndoe'))
    const second = refreshTokenOf((await refresh(app, first)).json())
    assertRevoked(t, await revoke(app, { token: second, token_type_hint: 'refresh_token' }))
    assertOAuthError(t, await refresh(app, second), 400, 'invalid_grant')
    assertOAuthError(t, await refresh(app, first), 400, 'invalid_grant')
  })
  t.test('a spent token of the family', async t => {
    const first = refreshTokenOf(await login(app, 'johndoe'))
    const second = refreshTokenOf((await refresh(app, first)).json())
    assertRevoked(t, await revoke(app, { token: first }))
    assertOAuthError(t, await refresh(app, second), 400, 'invalid_grant')
  })
  t.test('other logins of the same user live on', async t => {
    const revoked = refreshTokenOf(await login(app, 'johndoe'))
    const kept = refreshTokenOf(await login(app, 'johndoe'))
    assertRevoked(t, await revoke(app, { token: revoked, token_type_hint: 'access_token' }))
    assertOAuthError(t, await refresh(app, revoked), 400, 'invalid_grant')
    t.equal((await refresh(app, kept)).statusCode, 200)
  })
})

t.test('tokens revoke knows nothing of: still 200 (RFC 7009 §2.2)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe')
  const [key] = await app.authStore.listSigningKeys()
  if (key === undefined) throw new Error('no signing key')
  const payload = claims(logged.access_token)
  const sign = (signing: typeof key, extra: Record<string, unknown> = {}): string =>
    withLowS(createSigner({ key: signing.privateKey, algorithm: signing.alg, kid: signing.kid, header: { alg: signing.alg, typ: 'at+jwt' } })({ ...payload, ...extra }))

  const cases = [
    { name: 'garbage', token: 'garbage' },
    { name: 'an unknown refresh token', token: 'A'.repeat(43) },
    { name: 'a JWT signed by an unknown key', token: sign(generateSigningKey('ES256')) },
    { name: 'an expired access token', token: sign(key, { iat: Number(payload.iat) - 2000, exp: Number(payload.iat) - 1000 }) },
    { name: 'three dots of nothing', token: '..' }
  ]
  for (const { name, token } of cases) {
    t.test(name, async t => {
      assertRevoked(t, await revoke(app, { token }))
    })
  }
  t.test('and the real token was not touched', async t => {
    t.equal((await me(app, logged.access_token)).statusCode, 200)
  })
})

t.test('malformed revocation requests', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe')

  const cases: Array<{ name: string, payload: string, headers?: Record<string, string> }> = [
    { name: 'missing token', payload: 'token_type_hint=access_token' },
    { name: 'repeated token', payload: `token=${logged.access_token}&token=x` },
    { name: 'JSON body', payload: JSON.stringify({ token: logged.access_token }), headers: { 'content-type': 'application/json' } },
    { name: 'text/plain body', payload: `token=${logged.access_token}`, headers: { 'content-type': 'text/plain' } }
  ]
  for (const { name, payload, headers } of cases) {
    t.test(name, async t => {
      const response = await app.inject({ method: 'POST', url: '/revoke', payload, headers: { ...FORM, ...headers } })
      assertOAuthError(t, response, 400, 'invalid_request')
    })
  }
  t.test('the token survived every malformed request', async t => {
    t.equal((await me(app, logged.access_token)).statusCode, 200)
  })
})

t.test('a client can revoke only its own tokens (RFC 7009 §2.1)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await createClient(app, 'client-a', 'secret of client a')
  await createClient(app, 'client-b', 'secret of client b')
  const asA = { client_id: 'client-a', client_secret: 'secret of client a' }
  const asB = { client_id: 'client-b', client_secret: 'secret of client b' }
  const logged = await login(app, 'johndoe', asA)

  t.test('client B revoking client A\'s tokens: 200, and nothing happens', async t => {
    assertRevoked(t, await revoke(app, { token: logged.access_token, ...asB }))
    assertRevoked(t, await revoke(app, { token: refreshTokenOf(logged), ...asB }))
    t.strictSame(await revokedJtis(app), [])
    t.equal((await me(app, logged.access_token)).statusCode, 200)
  })
  t.test('first-party revoking client A\'s tokens: 200, and nothing happens', async t => {
    assertRevoked(t, await revoke(app, { token: logged.access_token }))
    t.equal((await me(app, logged.access_token)).statusCode, 200)
  })
  t.test('client B with a wrong secret: 401 invalid_client', async t => {
    assertOAuthError(t, await revoke(app, { token: logged.access_token, client_id: 'client-b', client_secret: 'wrong' }), 401, 'invalid_client')
  })
  t.test('client A revokes its own', async t => {
    const basic = `Basic ${Buffer.from('client-a:secret+of+client+a').toString('base64')}`
    assertRevoked(t, await revoke(app, { token: logged.access_token }, { authorization: basic }))
    assertInvalidToken(t, await me(app, logged.access_token), /revoked/)
    assertRevoked(t, await revoke(app, { token: refreshTokenOf(logged), ...asA }))
    assertOAuthError(t, await refresh(app, refreshTokenOf(logged), asA), 400, 'invalid_grant')
  })
})

t.test('a revocation reaches every instance that shares the store within one second (docs/contract.md §9)', async t => {
  const file = join(t.testdir(), 'auth.db')
  const a = (await build(t, { DATABASE_URL: `sqlite:${file}` })).app
  const b = (await build(t, { DATABASE_URL: `sqlite:${file}` })).app
  await addUser(a.authStore, 'johndoe')
  const logged = await login(a, 'johndoe')
  t.equal((await me(b, logged.access_token)).statusCode, 200, 'B accepts a token A issued')

  assertRevoked(t, await revoke(a, { token: logged.access_token }))
  // B may have the token's state cached from the call above, for less than a second.
  const revokedAt = Date.now()
  let seenByB = await me(b, logged.access_token)
  while (seenByB.statusCode === 200 && Date.now() - revokedAt < 1000) {
    await new Promise(resolve => setTimeout(resolve, 50))
    seenByB = await me(b, logged.access_token)
  }
  t.ok(Date.now() - revokedAt < 1000, 'B refuses the token within one second')
  assertInvalidToken(t, seenByB, /revoked/)
  assertInvalidToken(t, await me(a, logged.access_token), /revoked/)
  t.ok((await revokedJtis(b)).includes(String(claims(logged.access_token).jti)))

  assertRevoked(t, await revoke(b, { token: refreshTokenOf(logged) }))
  assertOAuthError(t, await refresh(a, refreshTokenOf(logged)), 400, 'invalid_grant')
})

t.test('revoking a refresh token ends the access tokens of its login, and only those (RFC 7009 §2.1)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe')
  const refreshed = (await refresh(app, refreshTokenOf(logged))).json()
  const other = await login(app, 'johndoe')
  t.equal((await me(app, refreshed.access_token)).statusCode, 200)

  assertRevoked(t, await revoke(app, { token: refreshed.refresh_token }))
  assertInvalidToken(t, await me(app, logged.access_token), /revoked/)
  assertInvalidToken(t, await me(app, refreshed.access_token), /revoked/)
  t.equal((await me(app, other.access_token)).statusCode, 200, 'another login of the same user lives on')
})

t.test('a family revoked on one instance ends its access tokens on another within one second', async t => {
  const file = join(t.testdir(), 'auth.db')
  const a = (await build(t, { DATABASE_URL: `sqlite:${file}` })).app
  const b = (await build(t, { DATABASE_URL: `sqlite:${file}` })).app
  await addUser(a.authStore, 'johndoe')
  const logged = await login(a, 'johndoe')
  t.equal((await me(b, logged.access_token)).statusCode, 200, 'B accepts and remembers the token')

  assertRevoked(t, await revoke(a, { token: refreshTokenOf(logged) }))
  const { response, ms } = await refusedWithin(async () => await me(b, logged.access_token))
  assertInvalidToken(t, response, /revoked/)
  t.ok(ms < 1000, `B refused the access token ${ms} ms after its family was revoked on A`)
})
