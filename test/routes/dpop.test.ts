import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { calculateThumbprint, generateKeyPair, generateProof, type JWSAlgorithm, type KeyPair } from 'dpop'
import { SignJWT, exportJWK } from 'jose'
import oauth2Password from '../../plugins/auth.js'
import { MemoryStore } from '../../store/index.js'
import { DPOP_ALGORITHMS, accessTokenHash } from '../../tokens/dpop.js'
import { hashRefreshToken } from '../../tokens/refresh.js'
import { CHEAP_ARGON2, PASSWORD, addUser, assertOAuthError, basic, build, claims, createClient, login as bearerLogin, refreshTokenOf } from '../helper.js'

// Sender-constrained tokens (RFC 9449), end to end, with panva's `dpop` client library
// making the keys and the proofs: the token request, the refresh and the protected calls. Hand-made
// proofs (jose) only where the library will not make a wrong one.

/** Where app.inject's requests go: light-my-request's default Host is localhost:80. */
const BASE = 'http://localhost'
const ALGS = DPOP_ALGORITHMS.join(' ')
const DPOP_CHALLENGE = `DPoP algs="${ALGS}"`
const challengeOf = (error: string): RegExp => new RegExp(`^DPoP algs="${ALGS}", error="${error}", error_description="[^"\\\\]+"$`)
const INVALID_DPOP_PROOF = challengeOf('invalid_dpop_proof')
const INVALID_TOKEN = challengeOf('invalid_token')
const SECRET = 's3cret-of-a-confidential-client-0123456789'
/** A symmetric key, which a proof's header must never carry (typed apart: jose's header type refuses it). */
const SYMMETRIC_JWK = { kty: 'oct', k: 'c2VjcmV0' }

interface Tokens { access_token: string, refresh_token: string, token_type: string, scope: string }

/** POST /token with a form, and a DPoP header when `proof` is given (an array: the header several times). */
async function tokenRequest (app: FastifyInstance, fields: Record<string, string>, proof?: string | string[], headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/token',
    payload: new URLSearchParams(fields).toString(),
    // Capitalised, so that light-my-request takes an array as the header sent several times.
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers, ...(proof === undefined ? {} : { DPoP: proof }) }
  })
}

async function tokenProof (keys: KeyPair, url = `${BASE}/token`): Promise<string> {
  return await generateProof(keys, url, 'POST')
}

/** Logs in with a proof of `keys`; fails the test unless it is a DPoP token. */
async function dpopLogin (t: Test, app: FastifyInstance, keys: KeyPair, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Tokens> {
  const response = await tokenRequest(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD, ...fields }, await tokenProof(keys), headers)
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.json().token_type, 'DPoP')
  return response.json()
}

/** A GET with `Authorization: <scheme> <token>` and the DPoP header(s) given. */
async function get (app: FastifyInstance, url: string, token: string, proof?: string | string[], scheme = 'DPoP', headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({ url, headers: { ...headers, authorization: `${scheme} ${token}`, ...(proof === undefined ? {} : { DPoP: proof }) } })
}

/** A proof from `keys` for GET `url` and the access token `token`, as the client library makes it. */
async function getProof (keys: KeyPair, url: string, token: string): Promise<string> {
  return await generateProof(keys, `${BASE}${url}`, 'GET', undefined, token)
}

/** A proof the client library would not make: signed with `keys` by jose, with these claims and header members. */
async function handProof (keys: KeyPair, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return await new SignJWT({ jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey), ...header })
    .sign(keys.privateKey)
}

function assertRefused (t: Test, response: LightMyRequestResponse, status: number, code: string, challenge: RegExp | string, name: string): void {
  t.equal(response.statusCode, status, `${name}: ${response.body}`)
  const body = response.json()
  t.equal(body.code, code, name)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], name)
  t.equal(response.headers['cache-control'], 'no-store', name)
  if (typeof challenge === 'string') t.equal(response.headers['www-authenticate'], challenge, name)
  else t.match(response.headers['www-authenticate'], challenge, name)
}

/** Nothing secret in any log line: no token, no proof, no password. */
function assertNothingLogged (t: Test, logText: string, secrets: readonly string[]): void {
  t.notOk(logText.includes(PASSWORD), 'no password in the log')
  const leaked = secrets.filter(secret => logText.includes(secret))
  t.strictSame(leaked, [], 'no token or proof in the log')
}

t.test('with the client library\'s keys and proofs: login, protected calls, refresh, for each algorithm it signs with', async t => {
  const { app, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const secrets: string[] = []
  for (const alg of ['ES256', 'Ed25519', 'PS256', 'RS256'] satisfies JWSAlgorithm[]) {
    await t.test(alg, async t => {
      const keys = await generateKeyPair(alg)
      const jkt = await calculateThumbprint(keys.publicKey)
      const proof = await tokenProof(keys)
      const loggedIn = await tokenRequest(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD }, proof)
      t.equal(loggedIn.statusCode, 200, loggedIn.body)
      t.equal(loggedIn.headers['cache-control'], 'no-store')
      const tokens: Tokens = loggedIn.json()
      t.equal(tokens.token_type, 'DPoP')
      t.strictSame(claims(tokens.access_token).cnf, { jkt }, 'the access token is bound to the key (cnf.jkt)')

      const meProof = await getProof(keys, '/users/me', tokens.access_token)
      const me = await get(app, '/users/me', tokens.access_token, meProof)
      t.equal(me.statusCode, 200, me.body)
      t.equal(me.json().username, 'johndoe')

      const refreshProof = await tokenProof(keys)
      const refreshed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, refreshProof)
      t.equal(refreshed.statusCode, 200, refreshed.body)
      const next: Tokens = refreshed.json()
      t.equal(next.token_type, 'DPoP')
      t.strictSame(claims(next.access_token).cnf, { jkt }, 'the refreshed access token too')
      const items = await get(app, '/users/me/items', next.access_token, await getProof(keys, '/users/me/items', next.access_token))
      t.equal(items.statusCode, 200, items.body)
      t.strictSame(items.json(), [{ item_id: 'Foo', owner: 'johndoe' }])
      secrets.push(proof, meProof, refreshProof, tokens.access_token, tokens.refresh_token, next.access_token, next.refresh_token)
    })
  }
  assertNothingLogged(t, logText(), secrets)
})

t.test('a public client\'s refresh token is bound to the key: refused with another key or without a proof, and not spent', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await createClient(app, 'mobile', null)
  for (const client of [{}, { client_id: 'mobile' }] as Array<Record<string, string>>) {
    const name = client.client_id ?? 'first-party'
    const keys = await generateKeyPair('ES256')
    const tokens = await dpopLogin(t, app, keys, client)
    const found = await app.authStore.findRefreshToken(hashRefreshToken(tokens.refresh_token))
    t.equal(found?.family.jkt, await calculateThumbprint(keys.publicKey), `${name}: the family is bound to the key`)
    const refresh = { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...client }

    const otherKey = await tokenRequest(app, refresh, await tokenProof(await generateKeyPair('ES256')))
    assertOAuthError(t, otherKey, 400, 'invalid_grant')
    t.equal(otherKey.json().error_description, 'The refresh token is bound to another DPoP key')
    const noProof = await tokenRequest(app, refresh)
    assertOAuthError(t, noProof, 400, 'invalid_grant')
    t.equal(noProof.json().error_description, 'The refresh token is bound to a DPoP key: send a DPoP proof')

    const refreshed = await tokenRequest(app, refresh, await tokenProof(keys))
    t.equal(refreshed.statusCode, 200, `${name}: the refusals spent nothing: ${refreshed.body}`)
  }
})

t.test('a confidential client\'s refresh token is not bound to a key; each access token is bound to its request\'s key', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await createClient(app, 'backend', SECRET)
  const authorization = { authorization: basic('backend', SECRET) }
  const first = await generateKeyPair('ES256')
  const tokens = await dpopLogin(t, app, first, {}, authorization)
  t.equal((await app.authStore.findRefreshToken(hashRefreshToken(tokens.refresh_token)))?.family.jkt, null)

  const bearer = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, undefined, authorization)
  t.equal(bearer.statusCode, 200, bearer.body)
  t.equal(bearer.json().token_type, 'bearer')
  t.equal(claims(bearer.json().access_token).cnf, undefined, 'without a proof, a bearer token')

  const second = await generateKeyPair('ES256')
  const rebound = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: bearer.json().refresh_token }, await tokenProof(second), authorization)
  t.equal(rebound.statusCode, 200, rebound.body)
  t.equal(rebound.json().token_type, 'DPoP')
  t.strictSame(claims(rebound.json().access_token).cnf, { jkt: await calculateThumbprint(second.publicKey) })
})

t.test('a token request with a bad proof is 400 invalid_dpop_proof, before its password is checked', async t => {
  const { app, logs, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const keys = await generateKeyPair('ES256')
  const replayed = await tokenProof(keys)
  t.equal((await tokenRequest(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD }, replayed)).statusCode, 200, 'the proof\'s first use')

  const cases: Array<{ name: string, proof: () => Promise<string | string[]>, description: string }> = [
    { name: 'a replayed proof', proof: async () => replayed, description: 'The DPoP proof was used before' },
    { name: 'a proof for GET', proof: async () => await generateProof(keys, `${BASE}/token`, 'GET'), description: 'The DPoP proof is for another HTTP method' },
    { name: 'a proof for another endpoint', proof: async () => await tokenProof(keys, `${BASE}/revoke`), description: 'The DPoP proof is for another URL' },
    { name: 'a proof for another server', proof: async () => await tokenProof(keys, 'https://auth.example.com/token'), description: 'The DPoP proof is for another URL' },
    { name: 'two DPoP headers', proof: async () => [await tokenProof(keys), await tokenProof(keys)], description: 'More than one DPoP header' },
    { name: 'an empty DPoP header', proof: async () => '', description: 'The DPoP proof is not a signed JWT' },
    { name: 'not a JWT', proof: async () => 'not-a-jwt', description: 'The DPoP proof is not a signed JWT' },
    { name: 'typ jwt', proof: async () => await handProof(keys, { htm: 'POST', htu: `${BASE}/token` }, { typ: 'JWT' }), description: 'The DPoP proof\'s typ is not dpop+jwt' },
    { name: 'made two minutes ago', proof: async () => await handProof(keys, { htm: 'POST', htu: `${BASE}/token`, iat: Math.floor(Date.now() / 1000) - 120 }), description: 'The DPoP proof was not made within the last minute' },
    { name: 'no jti', proof: async () => await handProof(keys, { htm: 'POST', htu: `${BASE}/token`, jti: undefined }), description: 'The DPoP proof lacks a claim or has one of the wrong type' }
  ]
  const secrets = [replayed]
  for (const { name, proof, description } of cases) {
    const made = await proof()
    secrets.push(...[made].flat().filter(value => value.length > 0))
    // A wrong password: the answer is about the proof, so the password was never looked at.
    const response = await tokenRequest(app, { grant_type: 'password', username: 'johndoe', password: 'a wrong password, never checked' }, made)
    assertOAuthError(t, response, 400, 'invalid_dpop_proof')
    t.equal(response.json().error_description, description, name)
  }
  t.strictSame(logs().filter(line => line.audit === 'login').map(line => line.outcome), ['success'], 'no login was attempted but the first')
  assertNothingLogged(t, logText(), secrets)
})

t.test('the refusals of a protected route, each with its status, code and DPoP challenge', async t => {
  const { app, logText } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const keys = await generateKeyPair('ES256')
  const other = await generateKeyPair('ES256')
  const { access_token: token } = await dpopLogin(t, app, keys)
  const { access_token: narrow } = await dpopLogin(t, app, keys, { scope: 'me' })
  const { access_token: unbound } = await bearerLogin(app, 'johndoe')
  const replayed = await getProof(keys, '/users/me', token)
  t.equal((await get(app, '/users/me', token, replayed)).statusCode, 200, 'the proof\'s first use')
  const now = Math.floor(Date.now() / 1000)
  const claimsFor = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ htm: 'GET', htu: `${BASE}/users/me`, ath: accessTokenHash(token), ...extra })

  const cases: Array<{
    name: string
    request: () => Promise<LightMyRequestResponse>
    status?: number
    code?: string
    challenge?: RegExp | string
  }> = [
    { name: 'the bound token as Bearer', request: async () => await get(app, '/users/me', token, undefined, 'Bearer'), code: 'OAUTH2_INVALID_TOKEN', challenge: INVALID_TOKEN },
    { name: 'the bound token as Bearer, with a proof', request: async () => await get(app, '/users/me', token, await getProof(keys, '/users/me', token), 'Bearer'), code: 'OAUTH2_INVALID_TOKEN', challenge: INVALID_TOKEN },
    { name: 'the DPoP scheme with a bearer token', request: async () => await get(app, '/users/me', unbound, await getProof(keys, '/users/me', unbound)), code: 'OAUTH2_INVALID_TOKEN', challenge: INVALID_TOKEN },
    { name: 'the DPoP scheme with two tokens', request: async () => await get(app, '/users/me', `${token} ${token}`, await getProof(keys, '/users/me', token)), status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: challengeOf('invalid_request') },
    { name: 'no DPoP header', request: async () => await get(app, '/users/me', token) },
    { name: 'two DPoP headers', request: async () => await get(app, '/users/me', token, [await getProof(keys, '/users/me', token), await getProof(keys, '/users/me', token)]) },
    { name: 'an empty DPoP header', request: async () => await get(app, '/users/me', token, '') },
    { name: 'not a JWT', request: async () => await get(app, '/users/me', token, 'abc.def.ghi') },
    { name: 'a proof for POST', request: async () => await get(app, '/users/me', token, await generateProof(keys, `${BASE}/users/me`, 'POST', undefined, token)) },
    { name: 'a proof for another route', request: async () => await get(app, '/users/me', token, await getProof(keys, '/users/me/items', token)) },
    { name: 'a proof for another host', request: async () => await get(app, '/users/me', token, await generateProof(keys, 'http://api.example.com/users/me', 'GET', undefined, token)) },
    { name: 'a proof for https', request: async () => await get(app, '/users/me', token, await generateProof(keys, 'https://localhost/users/me', 'GET', undefined, token)) },
    { name: 'a proof by another key', request: async () => await get(app, '/users/me', token, await getProof(other, '/users/me', token)) },
    { name: 'a proof without ath', request: async () => await get(app, '/users/me', token, await generateProof(keys, `${BASE}/users/me`, 'GET')) },
    { name: 'a proof for another access token', request: async () => await get(app, '/users/me', token, await getProof(keys, '/users/me', narrow)) },
    { name: 'a proof made two minutes ago', request: async () => await get(app, '/users/me', token, await handProof(keys, claimsFor({ iat: now - 120 }))) },
    { name: 'a proof made two minutes ahead', request: async () => await get(app, '/users/me', token, await handProof(keys, claimsFor({ iat: now + 120 }))) },
    { name: 'a proof of typ jwt', request: async () => await get(app, '/users/me', token, await handProof(keys, claimsFor(), { typ: 'JWT' })) },
    { name: 'a proof signed with HS256', request: async () => await get(app, '/users/me', token, await new SignJWT(claimsFor({ jti: 'j', iat: now })).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: SYMMETRIC_JWK }).sign(new TextEncoder().encode('secret'))) },
    { name: 'a replayed proof', request: async () => await get(app, '/users/me', token, replayed) },
    { name: 'a scope the token lacks', request: async () => await get(app, '/users/me/items', narrow, await getProof(keys, '/users/me/items', narrow)), status: 403, code: 'OAUTH2_INSUFFICIENT_SCOPE', challenge: `${DPOP_CHALLENGE}, error="insufficient_scope", scope="me items"` }
  ]
  const secrets = [token, narrow, unbound, replayed]
  for (const { name, request, status = 401, code = 'OAUTH2_INVALID_DPOP_PROOF', challenge = INVALID_DPOP_PROOF } of cases) {
    assertRefused(t, await request(), status, code, challenge, name)
  }
  const still = await get(app, '/users/me', token, await getProof(keys, '/users/me', token))
  t.equal(still.statusCode, 200, 'the token works on with a good proof after all that')
  t.equal(still.headers['www-authenticate'], undefined)
  assertNothingLogged(t, logText(), secrets)
})

t.test('DPOP_REQUIRED=true: bearer tokens are refused with a DPoP challenge, DPoP ones taken', async t => {
  const { app } = await build(t, { DPOP_REQUIRED: 'true' })
  await addUser(app.authStore, 'johndoe')
  const { access_token: unbound } = await bearerLogin(app, 'johndoe')
  assertRefused(t, await get(app, '/users/me', unbound, undefined, 'Bearer'), 401, 'OAUTH2_INVALID_TOKEN', INVALID_TOKEN, 'a bearer token')
  assertRefused(t, await app.inject({ url: '/users/me' }), 401, 'OAUTH2_TOKEN_MISSING', DPOP_CHALLENGE, 'no credentials')
  const keys = await generateKeyPair('ES256')
  const { access_token: token } = await dpopLogin(t, app, keys)
  t.equal((await get(app, '/users/me', token, await getProof(keys, '/users/me', token))).statusCode, 200)
})

t.test('DPOP_REQUIRED takes true or false, nothing else', async t => {
  const { loadConfig } = await import('../../config/index.js')
  t.equal(loadConfig({}).DPOP_REQUIRED, false)
  t.equal(loadConfig({ DPOP_REQUIRED: 'true' }).DPOP_REQUIRED, true)
  t.equal(loadConfig({ DPOP_REQUIRED: 'false' }).DPOP_REQUIRED, false)
  for (const value of ['1', 'TRUE', 'yes']) {
    t.throws(() => loadConfig({ DPOP_REQUIRED: value }), { message: `Invalid configuration: DPOP_REQUIRED must be true or false; received ${JSON.stringify(value)}` })
  }
})

t.test('behind a trusted proxy, a proof names the forwarded scheme and host; untrusted, the forwarded headers are ignored', async t => {
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' }
  const publicUrl = 'https://api.example.com'
  for (const trusted of [true, false]) {
    t.test(trusted ? 'TRUST_PROXY=true' : 'no TRUST_PROXY', async t => {
      const { app } = await build(t, trusted ? { TRUST_PROXY: 'true' } : {})
      await addUser(app.authStore, 'johndoe')
      const keys = await generateKeyPair('ES256')
      const [good, bad] = trusted ? [publicUrl, BASE] : [BASE, publicUrl]
      const login = await tokenRequest(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD }, await tokenProof(keys, `${good}/token`), forwarded)
      t.equal(login.statusCode, 200, login.body)
      const refused = await tokenRequest(app, { grant_type: 'password', username: 'johndoe', password: PASSWORD }, await tokenProof(keys, `${bad}/token`), forwarded)
      assertOAuthError(t, refused, 400, 'invalid_dpop_proof')
      const token: string = login.json().access_token
      const call = async (base: string): Promise<LightMyRequestResponse> =>
        await get(app, '/users/me', token, await generateProof(keys, `${base}/users/me`, 'GET', undefined, token), 'DPoP', forwarded)
      t.equal((await call(good)).statusCode, 200)
      assertRefused(t, await call(bad), 401, 'OAUTH2_INVALID_DPOP_PROOF', INVALID_DPOP_PROOF, `a proof for ${bad}`)
    })
  }
})

t.test('the metadata lists the proof algorithms; /introspect gives a bound token\'s type and key', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await createClient(app, 'rs', SECRET)
  const metadata = await app.inject({ url: '/.well-known/oauth-authorization-server' })
  t.strictSame(metadata.json().dpop_signing_alg_values_supported, [...DPOP_ALGORITHMS])

  const keys = await generateKeyPair('ES256')
  const jkt = await calculateThumbprint(keys.publicKey)
  const tokens = await dpopLogin(t, app, keys)
  const { access_token: unbound } = await bearerLogin(app, 'johndoe')
  const introspect = async (token: string): Promise<Record<string, unknown>> => {
    const response = await app.inject({
      method: 'POST',
      url: '/introspect',
      payload: new URLSearchParams({ token }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('rs', SECRET) }
    })
    t.equal(response.statusCode, 200, response.body)
    return response.json()
  }
  t.match(await introspect(tokens.access_token), { active: true, token_type: 'DPoP', cnf: { jkt } })
  t.match(await introspect(refreshTokenOf(tokens)), { active: true, token_type: 'refresh_token', cnf: { jkt } })
  const bearer = await introspect(unbound)
  t.match(bearer, { active: true, token_type: 'Bearer' })
  t.equal(bearer.cnf, undefined)
})

t.test('embedded under a prefix, a host\'s route takes DPoP with no code of its own', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  const store = new MemoryStore()
  await app.register(oauth2Password, { store, issuer: 'https://shop.example.com', scopes: { 'orders:read': 'Read orders' }, prefix: '/auth', argon2: CHEAP_ARGON2 })
  app.get('/orders', { preHandler: app.authenticate, config: { scopes: ['orders:read'] } }, async request => ({ owner: request.user.username }))
  await app.ready()
  await addUser(store, 'johndoe', { scopes: ['orders:read'] })

  const keys = await generateKeyPair('ES256')
  const response = await app.inject({
    method: 'POST',
    url: '/auth/token',
    payload: new URLSearchParams({ grant_type: 'password', username: 'johndoe', password: PASSWORD }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await generateProof(keys, `${BASE}/auth/token`, 'POST') }
  })
  t.equal(response.statusCode, 200, response.body)
  const token: string = response.json().access_token
  const orders = await get(app, '/orders', token, await getProof(keys, '/orders', token))
  t.equal(orders.statusCode, 200, orders.body)
  t.strictSame(orders.json(), { owner: 'johndoe' })
  assertRefused(t, await get(app, '/orders', token, undefined, 'Bearer'), 401, 'OAUTH2_INVALID_TOKEN', INVALID_TOKEN, 'as Bearer')
})
