import t from 'tap'
import { PasswordHasher } from '../../passwords/hasher.js'
import { CHEAP_ARGON2, cheapHasher } from '../argon2.js'
import type { Store, User } from '../../store/types.js'
import { hashRefreshToken } from '../../tokens/refresh.js'
import { BAD_CREDENTIALS, passwordGrant, type PasswordGrantParams } from '../../grants/password.js'
import { CODE_REQUIRED, WRONG_CODE } from '../../grants/second-factor.js'
import { codeAt, stepAt } from '../totp-codes.js'
import { LIFETIMES, PASSWORD, accessClaims, backend, firstParty, grantServices } from './helper.js'

const hasher = cheapHasher()
const passwordHash = await hasher.hash(PASSWORD)

async function addUser (store: Store, username: string, fields: { scopes?: string[], email?: string } = {}): Promise<User> {
  return await store.createUser({ username, scopes: fields.scopes ?? ['me', 'items'], email: fields.email ?? null, passwordHash })
}

/** `store` with `method` rejecting as a store that does not answer would. */
function failing (store: Store, method: keyof Store): Store {
  return new Proxy(store, {
    get: (target, name) => {
      if (name === method) return async () => { throw new Error('the store does not answer') }
      const value: unknown = Reflect.get(target, name, target)
      // Bound, since a store's methods read its private fields, which a proxy does not have.
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/** The audit lines of password logins written so far, without the fields every one has. */
function audits (lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return lines.filter(line => line.audit === 'login').map(({ level, msg, audit, clientAddress, ...rest }) => rest)
}

const params = (fields: Partial<PasswordGrantParams> = {}): PasswordGrantParams => ({ username: 'alice', password: PASSWORD, ...fields })

t.test('a right password opens a login: a refresh family in the store and an access token issued in it', async t => {
  const { services, request, lines } = grantServices(t)
  const alice = await addUser(services.store, 'alice')
  const before = Date.now()
  const response = await passwordGrant(services, request, params({ username: 'Alice' }), firstParty, null)

  t.strictSame(Object.keys(response).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
  t.equal(response.token_type, 'bearer')
  t.equal(response.expires_in, LIFETIMES.accessToken)
  t.equal(response.scope, 'me items', 'no scope asked: every scope of the user')
  const claims = accessClaims(response.access_token)
  t.match(claims, { sub: alice.id, scope: 'me items', client_id: 'first-party', ver: alice.tokenVersion })
  t.notOk('cnf' in claims, 'a bearer token')

  const found = await services.store.findRefreshToken(hashRefreshToken(response.refresh_token))
  t.ok(found, 'the refresh token is stored, as its hash')
  t.match(found?.family, { id: claims.sid, userId: alice.id, clientId: 'first-party', scopes: ['me', 'items'], jkt: null })
  t.ok((found?.family.expiresAt ?? 0) >= before + LIFETIMES.refreshFamily * 1000)
  t.ok((found?.token.expiresAt ?? 0) <= Date.now() + LIFETIMES.refreshToken * 1000, 'the refresh token lives its own, shorter, lifetime')
  t.strictSame(audits(lines), [{ username: 'alice', clientId: 'first-party', outcome: 'success' }], 'the canonical username, now known to be a user')
  t.equal(lines[0]?.clientAddress, request.ip)
})

t.test('missing parameters and unknown scopes are refused before anything is counted or written', async t => {
  const { services, request, lines } = grantServices(t, { limits: { pair: 1 } })
  await addUser(services.store, 'alice')
  const cases: Array<[Partial<PasswordGrantParams>, string, string]> = [
    [{ username: undefined }, 'invalid_request', 'Missing parameter: username'],
    [{ username: '' }, 'invalid_request', 'Missing parameter: username'],
    [{ password: undefined }, 'invalid_request', 'Missing parameter: password'],
    [{ password: '' }, 'invalid_request', 'Missing parameter: password'],
    [{ scope: 'me admin root' }, 'invalid_scope', 'Unknown scope: admin root'],
    [{ scope: 'me  items' }, 'invalid_scope', 'scope must be space-delimited scope tokens'],
    [{ scope: 'toString' }, 'invalid_scope', 'Unknown scope: toString']
  ]
  for (const [fields, error, description] of cases) {
    await t.rejects(passwordGrant(services, request, params(fields), firstParty, null), { name: 'OAuthError', error, message: description, statusCode: 400 }, JSON.stringify(fields))
  }
  t.strictSame(lines, [], 'no audit line')
  t.ok(await passwordGrant(services, request, params(), firstParty, null), 'and no attempt counted, with a limit of one')
})

t.test('an unknown user and a wrong password get one answer; only the audit tells them apart', async t => {
  const { services, request, lines } = grantServices(t)
  await addUser(services.store, 'alice')
  const refusal = { name: 'OAuthError', error: 'invalid_grant', message: BAD_CREDENTIALS, statusCode: 400 }
  await t.rejects(passwordGrant(services, request, params({ username: 'mallory' }), firstParty, null), refusal)
  await t.rejects(passwordGrant(services, request, params({ username: 'no such\tname' }), firstParty, null), refusal, 'a username no account can have is looked up nowhere')
  await t.rejects(passwordGrant(services, request, params({ password: 'not the password at all' }), firstParty, null), refusal)
  const [mallory, invalid, alice] = audits(lines)
  t.match(mallory, { outcome: 'unknown_user', usernameDigest: /^[\w-]{16}$/ })
  t.notOk('username' in (mallory ?? {}), 'what was typed for an unknown user may be a password: only its digest is written')
  t.match(invalid, { outcome: 'unknown_user' })
  t.strictSame(alice, { username: 'alice', clientId: 'first-party', outcome: 'wrong_password' })
})

t.test('a disabled user learns it only with the right password', async t => {
  const { services, request, lines } = grantServices(t)
  const alice = await addUser(services.store, 'alice')
  await services.store.updateUser(alice.id, { disabled: true })
  await t.rejects(passwordGrant(services, request, params({ password: 'not the password at all' }), firstParty, null), { error: 'invalid_grant', message: BAD_CREDENTIALS })
  await t.rejects(passwordGrant(services, request, params(), firstParty, null), { error: 'invalid_grant', message: 'The user is disabled' })
  t.strictSame(audits(lines).map(line => line.outcome), ['wrong_password', 'disabled'])
})

t.test('failed attempts are counted before the password is checked; past the limit even the right one waits', async t => {
  const { services, request, lines } = grantServices(t, { limits: { pair: 2 } })
  await addUser(services.store, 'alice')
  const wrong = params({ password: 'not the password at all' })
  await passwordGrant(services, request, params(), firstParty, null)
  for (let attempt = 0; attempt < 2; attempt++) {
    await t.rejects(passwordGrant(services, request, wrong, firstParty, null), { name: 'OAuthError', error: 'invalid_grant' })
  }
  await t.rejects(passwordGrant(services, request, params(), firstParty, null), {
    error: 'invalid_request', message: 'Too many failed login attempts; retry later', statusCode: 429, headers: { 'retry-after': /^\d+$/ }
  })
  await t.rejects(passwordGrant(services, request, params({ username: 'nobody' }), firstParty, null), { name: 'OAuthError', error: 'invalid_grant' }, 'only this username from this address is limited')
  await t.resolves(passwordGrant(services, { ...request, ip: '198.51.100.7' }, params(), firstParty, null), 'nor from another address')
  const limited = audits(lines).find(line => line.outcome === 'rate_limited')
  t.match(limited, { usernameDigest: /^[\w-]{16}$/, repeated: 0 }, 'a rate-limited attempt names no user: its password was never checked')
})

t.test('an attempt whose password was never checked is taken back', async t => {
  const { services, request, lines } = grantServices(t, { limits: { pair: 1 } })
  await addUser(services.store, 'alice')
  await t.rejects(passwordGrant({ ...services, store: failing(services.store, 'findUserByUsername') }, request, params(), firstParty, null), { message: 'the store does not answer' })
  t.strictSame(lines, [], 'no audit line')
  t.ok(await passwordGrant(services, request, params(), firstParty, null), 'the limit of one is not spent')
})

t.test('scopes: asked ones narrow; the client, the user and the catalogue bound what is granted', async t => {
  const { services, request, lines } = grantServices(t)
  await addUser(services.store, 'alice')
  await addUser(services.store, 'bob', { scopes: ['me', 'retired'] })
  t.equal((await passwordGrant(services, request, params({ scope: 'me' }), firstParty, null)).scope, 'me')
  t.equal((await passwordGrant(services, request, params({ scope: '' }), firstParty, null)).scope, 'me items', 'an empty scope asks for none')
  t.equal((await passwordGrant(services, request, params(), backend, null)).scope, 'me', 'no more than the client may have')
  t.equal((await passwordGrant(services, request, params({ username: 'bob' }), firstParty, null)).scope, 'me', 'a scope gone from the catalogue is never granted')
  await t.rejects(passwordGrant(services, request, params({ scope: 'items' }), backend, null), { error: 'invalid_scope', message: 'scope not allowed: items' })
  await t.rejects(passwordGrant(services, request, params({ username: 'bob', scope: 'me items' }), firstParty, null), { error: 'invalid_scope', message: 'scope not allowed: items' })
  t.strictSame(audits(lines).map(line => line.outcome), ['success', 'success', 'success', 'success', 'invalid_scope', 'invalid_scope'])
})

t.test('with e-mail verification required, an unverified address is refused after the right password', async t => {
  const { services, request, lines } = grantServices(t, { emailVerificationRequired: true })
  await addUser(services.store, 'alice', { email: 'alice@example.com' })
  await addUser(services.store, 'bob')
  await t.rejects(passwordGrant(services, request, params(), firstParty, null), { error: 'invalid_grant', message: 'The e-mail address is not verified' })
  t.ok(await passwordGrant(services, request, params({ username: 'bob' }), firstParty, null), 'an account without an address has none to verify')
  t.strictSame(audits(lines).map(line => line.outcome), ['email_unverified', 'success'])
})

t.test('a user with a second factor needs its code; a missing code is not a failed guess, a wrong one is', async t => {
  const { services, request, lines } = grantServices(t, { limits: { pair: 1 } })
  const alice = await addUser(services.store, 'alice')
  const enrolled = await services.secondFactor.enroll(alice, Date.now())
  if (enrolled === null) throw new Error('no enrollment')
  await t.rejects(passwordGrant(services, request, params(), firstParty, null), { error: 'invalid_grant', message: CODE_REQUIRED })
  await t.rejects(passwordGrant(services, request, params({ totp: '' }), firstParty, null), { error: 'invalid_grant', message: CODE_REQUIRED }, 'an empty code is none')
  const code = codeAt(enrolled.secret, stepAt(Date.now()))
  const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0')
  await t.rejects(passwordGrant(services, request, params({ totp: wrong }), firstParty, null), { error: 'invalid_grant', message: WRONG_CODE })
  await t.rejects(passwordGrant(services, request, params({ totp: code }), firstParty, null), { name: 'OAuthError', statusCode: 429 }, 'the wrong code spent the limit of one')
  t.ok(await passwordGrant(services, { ...request, ip: '198.51.100.7' }, params({ totp: code }), firstParty, null), 'the right code logs in')
  t.strictSame(audits(lines).map(line => line.outcome), ['code_missing', 'code_missing', 'wrong_code', 'rate_limited', 'success'])
})

t.test('a disabled user with a second factor is told it is disabled, not asked for a code', async t => {
  const { services, request } = grantServices(t)
  const alice = await addUser(services.store, 'alice')
  await services.secondFactor.enroll(alice, Date.now())
  await services.store.updateUser(alice.id, { disabled: true })
  await t.rejects(passwordGrant(services, request, params(), firstParty, null), { message: 'The user is disabled' })
})

t.test('a DPoP key binds the access token, and the refresh token of a public client only (RFC 9449 §5)', async t => {
  const { services, request } = grantServices(t)
  await addUser(services.store, 'alice')
  const jkt = 'thumbprint-of-the-key'
  for (const [client, bound] of [[firstParty, jkt], [backend, null]] as const) {
    const response = await passwordGrant(services, request, params(), client, jkt)
    t.equal(response.token_type, 'DPoP', client.id)
    t.strictSame(accessClaims(response.access_token).cnf, { jkt })
    const found = await services.store.findRefreshToken(hashRefreshToken(response.refresh_token))
    t.equal(found?.family.jkt, bound, `${client.id}: the refresh family's key`)
  }
})

t.test('a hash made with other parameters is replaced on login; a failed replacement does not stop the login', async t => {
  const { services, request, lines } = grantServices(t)
  const older = await new PasswordHasher({ argon2: { ...CHEAP_ARGON2, timeCost: 2 } }).hash(PASSWORD)
  const alice = await services.store.createUser({ username: 'alice', scopes: ['me'], passwordHash: older })
  const bob = await services.store.createUser({ username: 'bob', scopes: ['me'], passwordHash: older })

  await passwordGrant(services, request, params(), firstParty, null)
  const upgraded = (await services.store.findUserById(alice.id))?.passwordHash ?? ''
  t.not(upgraded, older)
  t.notOk(services.hasher.needsRehash(upgraded), 'rehashed with the hasher\'s parameters')
  t.ok(await services.hasher.verify(upgraded, PASSWORD))

  t.ok(await passwordGrant({ ...services, store: failing(services.store, 'updateUser') }, request, params({ username: 'bob' }), firstParty, null))
  t.equal((await services.store.findUserById(bob.id))?.passwordHash, older)
  t.match(lines.find(line => line.msg === 'password rehash failed'), { level: 'warn', userId: bob.id, err: { message: 'the store does not answer' } })
})
