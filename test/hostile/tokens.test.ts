import { createHmac, randomUUID, sign as cryptoSign } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, addUser, login } from '../helper.js'
import { hashClientSecret } from '../../clients/secrets.js'
import { generateSigningKey } from '../../tokens/keys.js'
import { withLowS } from '../../tokens/access.js'
import type { SigningKey } from '../../store/types.js'

// every hostile access token, on the protected routes and on the endpoints that
// take a token in the body. docs/contract.md §4 makes a bad token 401 invalid_token and a malformed header 400.

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const REALM = 'Bearer realm="http://127.0.0.1:3000"'
const INVALID_TOKEN = new RegExp(`^${REALM}, error="invalid_token", error_description="[^"\\\\]+"$`)
const INVALID_REQUEST = new RegExp(`^${REALM}, error="invalid_request", error_description="[^"\\\\]+"$`)
const RESOURCE_SERVER = 'resource-server'
const SECRET = 'secret of the resource server'
const BASIC = `Basic ${Buffer.from(`${RESOURCE_SERVER}:${SECRET.replaceAll(' ', '+')}`).toString('base64')}`
/** "16 KB": the most RFC 7009 and 7662 requests here accept in `token` (schemas/oauth.ts). */
const LARGE = 16 * 1024

type Json = Record<string, unknown>

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

function decodePart (part: string | undefined): Json {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Json
}

/**
 * Signs the encoded header and payload as they are, with an ES256 key (the server's default), so
 * that a test can sign what no JWT library would write: a kid with any characters, a payload that
 * is not an object.
 */
function signEncoded (key: SigningKey, header: string, payload: string): string {
  const input = `${header}.${payload}`
  const signature = cryptoSign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  // Low S, as the server signs, so that each case is refused for its own reason.
  return withLowS(`${input}.${signature.toString('base64url')}`)
}

/** P-256's group order: (r, s) and (r, n - s) are both valid signatures of one input. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n

/** The same token with the other S of its ECDSA signature. */
function highSTwin (token: string): string {
  const dot = token.lastIndexOf('.')
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`)
  const twin = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex')
  return `${token.slice(0, dot)}.${Buffer.concat([signature.subarray(0, 32), twin]).toString('base64url')}`
}

/** The same token with unused bits set in the last character of its signature: it decodes to the same bytes. */
function strayBits (token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(token.slice(-1))
  return `${token.slice(0, -1)}${alphabet[last ^ 1]}`
}

/** Signs `payload` with `key`, the header as the server writes it plus `header`. */
function sign (key: SigningKey, payload: unknown, header: Json = {}): string {
  return signEncoded(key, base64url({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...header }), base64url(payload))
}

/**
 * A token of exactly `length` characters. Base64url cannot make every length from one part, so
 * both the header's and the payload's padding vary until the sum lands on it.
 */
function ofLength (length: number, make: (headerPad: string, payloadPad: string) => string): string {
  for (let headerPad = 0; headerPad < 3; headerPad++) {
    const estimate = Math.floor((length - make('x'.repeat(headerPad), '').length) * 3 / 4)
    for (let payloadPad = Math.max(0, estimate - 4); payloadPad <= estimate + 4; payloadPad++) {
      const token = make('x'.repeat(headerPad), 'x'.repeat(payloadPad))
      if (token.length === length) return token
    }
  }
  throw new Error(`no token of ${length} characters`)
}

function assertInvalidToken (t: Test, response: LightMyRequestResponse): void {
  t.equal(response.statusCode, 401, response.body)
  t.equal(response.json().code, 'OAUTH2_INVALID_TOKEN')
  t.match(response.headers['www-authenticate'], INVALID_TOKEN)
}

function assertMalformed (t: Test, response: LightMyRequestResponse): void {
  t.equal(response.statusCode, 400, response.body)
  t.equal(response.json().code, 'OAUTH2_INVALID_REQUEST')
  t.match(response.headers['www-authenticate'], INVALID_REQUEST)
}

const post = async (app: FastifyInstance, url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  await app.inject({ method: 'POST', url, payload: new URLSearchParams(fields).toString(), headers: { ...FORM, ...headers } })

t.test('hostile access tokens', async t => {
  const { app } = await build(t)
  await app.authStore.createClient({
    id: RESOURCE_SERVER, secretHash: hashClientSecret(SECRET), scopes: ['me', 'items'], createdAt: Date.now()
  })
  await addUser(app.authStore, 'johndoe')
  const logged = await login(app, 'johndoe')
  const [key] = await app.authStore.listSigningKeys()
  if (key === undefined) throw new Error('the server has no signing key')
  const [headerPart = '', payloadPart = '', signaturePart = ''] = logged.access_token.split('.')
  const header = decodePart(headerPart)
  const payload = decodePart(payloadPart)
  const now = Math.floor(Date.now() / 1000)

  // Another deployment: same issuer and audience (both default to http://127.0.0.1:3000), its own key.
  const other = await build(t)
  await addUser(other.app.authStore, 'johndoe')
  const foreign = (await login(other.app, 'johndoe')).access_token
  const foreignKey = generateSigningKey('ES256')

  const cases: Array<{ name: string, token: string, status?: 400 }> = [
    { name: 'alg none, no signature', token: `${base64url({ ...header, alg: 'none' })}.${payloadPart}.` },
    {
      name: 'HS256 keyed with the server\'s public key (algorithm confusion)',
      token: (() => {
        const input = `${base64url({ ...header, alg: 'HS256' })}.${payloadPart}`
        return `${input}.${createHmac('sha256', key.publicKey).update(input).digest('base64url')}`
      })()
    },
    { name: 'an unknown kid, signed with the server\'s key', token: sign(key, payload, { kid: randomUUID() }) },
    { name: 'kid ../../etc/passwd, signed with the server\'s key', token: sign(key, payload, { kid: '../../etc/passwd' }) },
    { name: 'kid \' OR 1=1 --, signed with the server\'s key', token: sign(key, payload, { kid: '\' OR 1=1 --' }) },
    { name: 'a kid that is an object, signed with the server\'s key', token: sign(key, payload, { kid: { $ne: null } }) },
    { name: 'expired', token: sign(key, { ...payload, iat: now - 1000, exp: now - 100 }) },
    { name: 'nbf in the future', token: sign(key, { ...payload, nbf: now + 600 }) },
    { name: 'a wrong iss', token: sign(key, { ...payload, iss: 'http://evil.test' }) },
    { name: 'a wrong aud', token: sign(key, { ...payload, aud: 'http://other.test' }) },
    { name: 'typ JWT', token: sign(key, payload, { typ: 'JWT' }) },
    { name: 'a tampered payload (a scope added)', token: `${headerPart}.${base64url({ ...payload, scope: 'me items admin' })}.${signaturePart}` },
    { name: 'a tampered header (a field added)', token: `${base64url({ ...header, jku: 'http://evil.test/jwks' })}.${payloadPart}.${signaturePart}` },
    { name: 'a tampered header (alg RS256 for the ES256 key)', token: `${base64url({ ...header, alg: 'RS256' })}.${payloadPart}.${signaturePart}` },
    { name: 'truncated by one character', token: logged.access_token.slice(0, -1) },
    { name: 'truncated to its first half', token: logged.access_token.slice(0, logged.access_token.length >> 1) },
    { name: 'the header alone', token: headerPart },
    { name: 'three empty parts', token: '..' },
    { name: 'a header that is not JSON', token: signEncoded(key, Buffer.from('{"alg":').toString('base64url'), payloadPart) },
    { name: 'a payload that is an array', token: signEncoded(key, headerPart, base64url([payload])) },
    { name: 'a payload that is null', token: signEncoded(key, headerPart, base64url(null)) },
    // The two below are not base64url, yet within RFC 6750's b64token: the header is well-formed, the token is not.
    {
      name: 'not base64url: the signature in standard base64 (+ / and = padding)',
      token: `${headerPart}.${payloadPart}.${Buffer.from(signaturePart, 'base64url').toString('base64')}`
    },
    { name: 'not base64url: a ~ in the payload', token: `${headerPart}.~${payloadPart.slice(1)}.${signaturePart}` },
    // Characters outside b64token make the Authorization header malformed (docs/contract.md §4): 400 invalid_request.
    { name: 'not base64url: a * in the payload', token: `${headerPart}.*${payloadPart.slice(1)}.${signaturePart}`, status: 400 },
    { name: 'not base64url: percent-encoded', token: `${headerPart}.${payloadPart}.%${signaturePart.slice(1)}`, status: 400 },
    {
      // Through inject only: on a real socket Node refuses headers over 16 KiB in all
      // (--max-http-header-size) with 431 before the app sees them.
      name: 'a 16 KiB token, signed with the server\'s key but expired',
      token: ofLength(LARGE, (headerPad, payloadPad) => sign(key, { ...payload, exp: now - 100, pad: payloadPad }, { pad: headerPad }))
    },
    { name: 'a refresh token as an access token', token: logged.refresh_token ?? '' },
    { name: 'a token signed by another deployment\'s key', token: foreign },
    // Accepted with the real key before: each must be refused on its own.
    { name: 'exp of 1e308', token: sign(key, { ...payload, exp: 1e308 }) },
    { name: 'a lifetime of a day, longer than ACCESS_TOKEN_TTL', token: sign(key, { ...payload, iat: now, exp: now + 86_400 }) },
    { name: 'iat an hour in the future', token: sign(key, { ...payload, iat: now + 3600, exp: now + 3600 + 900 }) },
    { name: 'iat as a string', token: sign(key, { ...payload, iat: String(now) }) },
    { name: 'exp as a fraction', token: sign(key, { ...payload, exp: now + 600.5 }) },
    { name: 'b64: false without crit', token: sign(key, payload, { b64: false }) },
    { name: 'crit naming b64', token: sign(key, payload, { b64: false, crit: ['b64'] }) },
    { name: 'typ AT+JWT', token: sign(key, payload, { typ: 'AT+JWT' }) },
    { name: 'typ application/at+jwt', token: sign(key, payload, { typ: 'application/at+jwt' }) },
    { name: 'the high-S twin of the genuine signature', token: highSTwin(logged.access_token) },
    { name: 'the genuine signature with stray bits in its last character', token: strayBits(logged.access_token) },
    { name: 'another deployment\'s key under this server\'s kid', token: sign({ ...foreignKey, kid: key.kid }, payload) }
  ]

  t.equal(cases.find(({ name }) => name.startsWith('a 16 KiB'))?.token.length, LARGE, 'the large token is 16 KiB')

  for (const { name, token, status } of cases) {
    t.test(name, async t => {
      for (const url of ['/users/me', '/status']) {
        const response = await app.inject({ url, headers: { authorization: `Bearer ${token}` } })
        if (status === 400) assertMalformed(t, response)
        else assertInvalidToken(t, response)
        t.same(Object.keys(response.json()).sort(), ['code', 'error', 'message', 'statusCode'])
      }

      const introspection = await post(app, '/introspect', { token }, { authorization: BASIC })
      t.equal(introspection.statusCode, 200, introspection.body)
      if (token === logged.refresh_token) {
        // A live refresh token is what it is: introspection says so (RFC 7662 §2.2).
        t.match(introspection.json(), { active: true, token_type: 'refresh_token' })
      } else {
        t.strictSame(introspection.json(), { active: false })
      }

      const revocation = await post(app, '/revoke', { token }, { authorization: BASIC })
      t.equal(revocation.statusCode, 200, revocation.body)
      t.strictSame(revocation.json(), {})
    })
  }

  t.test('an access token as the refresh_token of the refresh grant', async t => {
    const response = await post(app, '/token', { grant_type: 'refresh_token', refresh_token: logged.access_token })
    t.equal(response.statusCode, 400, response.body)
    t.equal(response.headers['cache-control'], 'no-store')
    t.strictSame(Object.keys(response.json()).sort(), ['error', 'error_description'])
    t.equal(response.json().error, 'invalid_grant')
  })

  t.test('the genuine token still works after all of them', async t => {
    const response = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${logged.access_token}` } })
    t.equal(response.statusCode, 200, response.body)
  })
})
