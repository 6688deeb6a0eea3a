import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Client, User } from '../../store/types.js'
import { newRefreshToken } from '../../tokens/refresh.js'
import { BAD_REFRESH_TOKEN, refreshGrant, type RefreshGrantParams } from '../../grants/refresh.js'
import type { Lifetimes } from '../../grants/grant.js'
import { LIFETIMES, accessClaims, backend, firstParty, grantServices } from './helper.js'

type Services = ReturnType<typeof grantServices>['services']

/** A login of `user` through `client`, made in the store as the password grant makes it: its family id and its refresh token. */
async function login (
  services: Services,
  user: User,
  client: Client,
  family: { scopes?: string[], jkt?: string | null, tokenExpiresAt?: number } = {}
): Promise<{ familyId: string, refreshToken: string }> {
  const now = Date.now()
  const id = randomUUID()
  const refresh = newRefreshToken()
  await services.store.createRefreshFamily(
    { id, userId: user.id, clientId: client.id, scopes: family.scopes ?? user.scopes, tokenVersion: user.tokenVersion, createdAt: now, expiresAt: now + LIFETIMES.refreshFamily * 1000, jkt: family.jkt ?? null },
    { hash: refresh.hash, createdAt: now, expiresAt: family.tokenExpiresAt ?? now + LIFETIMES.refreshToken * 1000 }
  )
  return { familyId: id, refreshToken: refresh.value }
}

async function setup (t: Test, lifetimes: Partial<Lifetimes> = {}) {
  const built = grantServices(t, { lifetimes })
  const alice = await built.services.store.createUser({ username: 'alice', scopes: ['me', 'items'], passwordHash: 'x' })
  /** Refreshes `refreshToken` as `client` (first-party unless named), with the DPoP key `jkt`. */
  const refresh = async (refreshToken: string | undefined, fields: Omit<RefreshGrantParams, 'refresh_token'> = {}, client = firstParty, jkt: string | null = null) =>
    await refreshGrant(built.services, built.request, { refresh_token: refreshToken, ...fields }, client, jkt)
  return { ...built, alice, refresh }
}

const badToken = { name: 'OAuthError', error: 'invalid_grant', message: BAD_REFRESH_TOKEN, statusCode: 400 }

t.test('a refresh spends its token and answers with its successor and an access token of the same login', async t => {
  const { services, alice, refresh, lines } = await setup(t)
  const { familyId, refreshToken } = await login(services, alice, firstParty)
  const response = await refresh(refreshToken)
  t.strictSame(Object.keys(response).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
  t.match(response, { token_type: 'bearer', expires_in: LIFETIMES.accessToken, scope: 'me items' })
  t.not(response.refresh_token, refreshToken, 'rotated')
  t.match(accessClaims(response.access_token), { sub: alice.id, sid: familyId, client_id: 'first-party', scope: 'me items' })
  t.ok(await refresh(response.refresh_token), 'the successor refreshes in its turn')
  t.strictSame(lines, [], 'a refresh writes no line')
})

t.test('a missing, unknown or expired refresh token is refused', async t => {
  const { services, alice, refresh } = await setup(t)
  await t.rejects(refresh(undefined), { name: 'OAuthError', error: 'invalid_request', message: 'Missing parameter: refresh_token' })
  await t.rejects(refresh(''), { name: 'OAuthError', error: 'invalid_request', message: 'Missing parameter: refresh_token' })
  await t.rejects(refresh(newRefreshToken().value), badToken)
  const expired = await login(services, alice, firstParty, { tokenExpiresAt: Date.now() - 1 })
  await t.rejects(refresh(expired.refreshToken), badToken)
  await t.rejects(refresh('a b', { scope: 'me' }), badToken, 'any string is a token to look up')
})

t.test('a refresh token is bound to its client (RFC 6749 §6): another client spends nothing', async t => {
  const { services, alice, refresh } = await setup(t)
  const { refreshToken } = await login(services, alice, firstParty)
  await t.rejects(refresh(refreshToken, {}, backend), badToken)
  t.ok(await refresh(refreshToken, {}, firstParty), 'its own client still refreshes it')
})

t.test('scope may narrow the access token, never widen it; the login keeps its scope (RFC 6749 §6)', async t => {
  const { services, alice, refresh } = await setup(t)
  const { refreshToken } = await login(services, alice, firstParty, { scopes: ['me', 'items'] })
  const narrowed = await refresh(refreshToken, { scope: 'items' })
  t.equal(narrowed.scope, 'items')
  t.equal(accessClaims(narrowed.access_token).scope, 'items')
  const next = await refresh(narrowed.refresh_token)
  t.equal(next.scope, 'me items', 'the next refresh, asking nothing, gets the login\'s scope again')

  const { refreshToken: meOnly } = await login(services, alice, firstParty, { scopes: ['me'] })
  await t.rejects(refresh(meOnly, { scope: 'me items' }), { name: 'OAuthError', error: 'invalid_scope', message: 'Scope not granted to this login: items' })
  await t.rejects(refresh(meOnly, { scope: 'me\titems' }), { name: 'OAuthError', error: 'invalid_scope', message: 'scope must be space-delimited scope tokens' })
  t.equal((await refresh(meOnly, { scope: '' })).scope, 'me', 'an empty scope asks for none; the refused refreshes spent nothing')
})

t.test('a refresh grants no scope the user or the client has lost since the login', async t => {
  const { services, alice, refresh } = await setup(t)
  const { refreshToken } = await login(services, alice, firstParty)
  await services.store.updateUser(alice.id, { scopes: ['me'] })
  const response = await refresh(refreshToken)
  t.equal(response.scope, 'me')
  t.equal((await refresh(response.refresh_token, { scope: 'items' })).scope, '', 'a lost scope asked for is left out, not refused')

  const narrowed = { ...backend, scopes: ['items'] }
  const { refreshToken: viaBackend } = await login(services, alice, backend, { scopes: ['me'] })
  t.equal((await refresh(viaBackend, {}, narrowed)).scope, '')
})

t.test('a spent token within the grace is refused and nothing else happens: two tabs racing', async t => {
  const { services, alice, refresh, lines } = await setup(t)
  const { familyId, refreshToken } = await login(services, alice, firstParty)
  const first = await refresh(refreshToken)
  await t.rejects(refresh(refreshToken), badToken)
  t.ok(await refresh(first.refresh_token), 'the family lives on')
  t.notOk(services.revocations.isRevoked({ jti: 'any', sid: familyId }))
  t.strictSame(lines, [])
})

t.test('a spent token after the grace is theft: its whole family is revoked (RFC 9700 §4.14.2)', async t => {
  const { services, alice, refresh, lines, request } = await setup(t, { reuseGrace: 0 })
  const { familyId, refreshToken } = await login(services, alice, firstParty)
  const { refreshToken: otherLogin } = await login(services, alice, firstParty)
  const first = await refresh(refreshToken)
  await sleep(5)
  await t.rejects(refresh(refreshToken), badToken)
  await t.rejects(refresh(first.refresh_token), badToken, 'the successor is revoked with the family')
  t.ok(services.revocations.isRevoked({ jti: accessClaims(first.access_token).jti as string, sid: familyId }), 'and the access tokens issued in it, here at once')
  t.ok((await services.store.revocationsSince(0)).some(revocation => revocation.kind === 'refresh_family' && revocation.id === familyId), 'and on every instance')
  t.strictSame(lines, [{
    level: 'warn', msg: 'spent refresh token reused: family revoked', audit: 'refresh_reuse', familyId, userId: alice.id, clientAddress: request.ip
  }])
  t.ok(await refresh(otherLogin), 'the user\'s other logins live on')
})

t.test('a user disabled, or whose password changed since the login, ends it; a removed user\'s logins went with them', async t => {
  const { services, refresh } = await setup(t)
  const cases: Array<[string, (user: User) => Promise<unknown>]> = [
    ['disabled', async user => await services.store.updateUser(user.id, { disabled: true })],
    ['password changed', async user => await services.store.updateUser(user.id, { passwordHash: 'y', revokeTokens: true })]
  ]
  for (const [name, change] of cases) {
    const user = await services.store.createUser({ username: name.replace(' ', '-'), scopes: ['me'], passwordHash: 'x' })
    const { familyId, refreshToken } = await login(services, user, firstParty)
    await change(user)
    await t.rejects(refresh(refreshToken), badToken, name)
    t.ok(services.revocations.isRevoked({ jti: 'any', sid: familyId }), `${name}: the login is revoked`)
    await services.store.updateUser(user.id, { disabled: false })
    await t.rejects(refresh(refreshToken), badToken, `${name}: and stays ended when the user is enabled again`)
  }
  const bob = await services.store.createUser({ username: 'bob', scopes: ['me'], passwordHash: 'x' })
  const { refreshToken } = await login(services, bob, firstParty)
  await services.store.removeUser(bob.id)
  await t.rejects(refresh(refreshToken), badToken, 'removed')
})

t.test('a refresh token bound to a DPoP key needs a proof of that key (RFC 9449 §5); a refusal spends nothing', async t => {
  const { services, alice, refresh } = await setup(t)
  const { refreshToken } = await login(services, alice, firstParty, { jkt: 'the-key' })
  await t.rejects(refresh(refreshToken), { name: 'OAuthError', error: 'invalid_grant', message: 'The refresh token is bound to a DPoP key: send a DPoP proof' })
  await t.rejects(refresh(refreshToken, {}, firstParty, 'another-key'), { name: 'OAuthError', error: 'invalid_grant', message: 'The refresh token is bound to another DPoP key' })
  const response = await refresh(refreshToken, {}, firstParty, 'the-key')
  t.equal(response.token_type, 'DPoP')
  t.strictSame(accessClaims(response.access_token).cnf, { jkt: 'the-key' })

  const { refreshToken: unbound } = await login(services, alice, backend)
  const dpop = await refresh(unbound, {}, backend, 'a-key')
  t.equal(dpop.token_type, 'DPoP', 'an unbound refresh token may be refreshed into a DPoP-bound access token')
  t.equal((await refresh(dpop.refresh_token, {}, backend)).token_type, 'bearer', 'and back: a confidential client\'s refresh tokens are bound by its authentication')
})
