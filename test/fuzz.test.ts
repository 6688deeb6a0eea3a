import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { build, addUser, login, PASSWORD } from './helper.js'
import { hashClientSecret } from '../clients/secrets.js'

// random form bodies, headers and tokens sent to every route. Whatever comes in,
// no 5xx, every error in the contract's shape, and nothing submitted handed back.
// A failure prints fast-check's counterexample and the `path` that replays it with the same seed.

const SEED = 20260611
const RUNS = 300
const ISSUER = 'http://127.0.0.1:3000'
const CLIENT = 'fuzz-backend'
const SECRET = 'secret of the fuzz backend'
const BASIC = `Basic ${Buffer.from(`${CLIENT}:${SECRET.replaceAll(' ', '+')}`).toString('base64')}`

const OAUTH_ROUTES = ['/token', '/revoke', '/introspect']
const PROTECTED_ROUTES = ['/users/me', '/users/me/items', '/status']
const PUBLIC_ROUTES = ['/health', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server']
const PARAMETERS = ['grant_type', 'username', 'password', 'scope', 'refresh_token', 'client_id', 'client_secret', 'token', 'token_type_hint']
/** RFC 6749 §5.2: `error` and `error_description` keep to these characters. */
const ERROR_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/
/** Shorter values may turn up in an answer by chance (a scope, "password", a key id's prefix). */
const ECHO_MIN_LENGTH = 17

interface Setup {
  app: FastifyInstance
  userId: string
  kid: string
  access: string
  refresh: string
}

async function setup (t: Test): Promise<Setup> {
  const { app } = await build(t)
  const user = await addUser(app.authStore, 'johndoe')
  await app.authStore.createClient({ id: CLIENT, secretHash: hashClientSecret(SECRET), scopes: ['me', 'items'], createdAt: Date.now() })
  const logged = await login(app, 'johndoe')
  const [key] = await app.authStore.listSigningKeys()
  if (key === undefined || logged.refresh_token === undefined) throw new Error('setup failed')
  return { app, userId: user.id, kid: key.kid, access: logged.access_token, refresh: logged.refresh_token }
}

/** Every string in a parsed JSON value, keys included, so that an escaped echo is found too. */
function strings (value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, inner]) => [key, ...strings(inner)])
}

function parse (body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

/**
 * Throws unless the answer keeps the contract: below 500, the error shapes of docs/contract.md §3 and §4, and
 * none of `submitted` in it. The tokens /token mints are the server's own and are only checked
 * not to be one it was sent (a refresh must rotate).
 */
function check (url: string, response: LightMyRequestResponse, submitted: readonly string[]): void {
  const fail = (why: string): never => {
    throw new Error(`${url} answered ${response.statusCode}: ${why}\n${response.body.slice(0, 400)}`)
  }
  if (response.statusCode >= 500) fail('a server error')
  if (PUBLIC_ROUTES.includes(url) && response.statusCode !== 200) fail('a public route refused')
  const body = parse(response.body)
  if (response.statusCode >= 400) {
    if (body === null || typeof body !== 'object') return fail('an error that is not a JSON object')
    const keys = Object.keys(body).sort().join()
    if (OAUTH_ROUTES.includes(url)) {
      const { error, error_description: description } = body as Record<string, unknown>
      if (keys !== 'error,error_description') fail('not { error, error_description }')
      if (typeof error !== 'string' || typeof description !== 'string') fail('error or error_description not a string')
      if (!ERROR_TEXT.test(String(error)) || !ERROR_TEXT.test(String(description))) fail('characters RFC 6749 §5.2 does not allow')
      if (response.headers['cache-control'] !== 'no-store') fail('an error that may be cached')
    } else {
      if (keys !== 'code,error,message,statusCode') fail('not Fastify\'s error shape')
      // A request of the DPoP scheme is refused with a DPoP challenge (RFC 9449 §7.1).
      if (!/^(Bearer realm=|DPoP algs=)/.test(String(response.headers['www-authenticate']))) fail('no Bearer or DPoP challenge')
    }
  }
  let answer: unknown = body
  if (url === '/token' && response.statusCode === 200) {
    const { access_token: access, refresh_token: refresh, ...rest } = body as Record<string, unknown>
    if (submitted.includes(String(access)) || submitted.includes(String(refresh))) fail('a submitted token handed back')
    answer = rest
  }
  const seen = [...(body === undefined ? [response.body] : strings(answer)), String(response.headers['www-authenticate'] ?? '')]
  for (const value of submitted) {
    if (value.length >= ECHO_MIN_LENGTH && seen.some(text => text.includes(value))) fail(`it echoes ${JSON.stringify(value.slice(0, 60))}`)
  }
}

/** What a socket can carry in a header value: tab, visible ASCII and obs-text (RFC 9110 §5.5). */
const headerText = (maxLength = 60): fc.Arbitrary<string> => fc.string({
  unit: fc.oneof(fc.constant('\t'), fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
    .map(code => typeof code === 'string' ? code : String.fromCharCode(code)),
  maxLength
})

function tokens (s: Setup): fc.Arbitrary<string> {
  const real = fc.constantFrom(s.access, s.refresh)
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const claims = fc.record({
    iss: fc.oneof(fc.constant(ISSUER), fc.string()),
    aud: fc.oneof(fc.constant(ISSUER), fc.string(), fc.array(fc.string())),
    sub: fc.oneof(fc.constant(s.userId), fc.string()),
    exp: fc.oneof(fc.constant(now + 600), fc.integer(), fc.string(), fc.double()),
    nbf: fc.oneof(fc.integer(), fc.string()),
    iat: fc.integer(),
    jti: fc.oneof(fc.uuid(), fc.string()),
    scope: fc.oneof(fc.constant('me items'), fc.string()),
    client_id: fc.oneof(fc.constant('first-party'), fc.string()),
    ver: fc.oneof(fc.constant(0), fc.jsonValue())
  }, { requiredKeys: [] })
  const jwt = fc.tuple(
    fc.record({
      alg: fc.oneof(fc.constantFrom('none', 'HS256', 'ES256', 'RS256', 'EdDSA', 'ES384'), fc.jsonValue()),
      typ: fc.oneof(fc.constantFrom('at+jwt', 'JWT'), fc.string()),
      kid: fc.oneof(fc.constant(s.kid), fc.string(), fc.jsonValue()),
      crit: fc.array(fc.string())
    }, { requiredKeys: [] }),
    fc.oneof(claims, fc.jsonValue()),
    fc.oneof(fc.constant(''), fc.constant(s.access.split('.')[2] ?? ''), fc.stringMatching(/^[\w-]{0,120}$/))
  ).map(([header, payload, signature]) => `${b64(header)}.${b64(payload)}.${signature}`)
  return fc.oneof(
    real,
    // One character replaced, or the token cut short.
    fc.tuple(real, fc.nat(), fc.constantFrom('A', '_', '-', '.', '=', '+', '/', '~', '*', '%', '"', ',', ' ', ''))
      .map(([token, at, character]) => token.slice(0, at % token.length) + character + token.slice(at % token.length + 1)),
    fc.tuple(real, fc.nat()).map(([token, at]) => token.slice(0, at % token.length)),
    jwt,
    fc.stringMatching(/^[A-Za-z0-9._~+/-]+=*$/),
    fc.integer({ min: 1000, max: 20_000 }).map(length => 'A'.repeat(length)),
    headerText()
  )
}

function values (s: Setup): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('password', 'refresh_token', 'Password', 'johndoe', 'JohnDoe', PASSWORD, CLIENT, SECRET, 'first-party', 'me', 'items', 'me items', '', 'access_token') },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    // Characters that have broken servers: NUL, line breaks, escapes, invisible and bidi marks,
    // a lone surrogate, one that NFKC expands 18-fold, the form's own delimiters.
    fc.string({ unit: fc.constantFrom('\0', '\r', '\n', '\u001b', '\u200b', '\u202e', '\ud800', '\ufdfa', 'ß', 'K', '%', '&', '=', '+', ';'), maxLength: 40 }),
    fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }), fc.integer({ min: 300, max: 6000 })).map(([unit, times]) => unit.repeat(times)),
    tokens(s)
  )
}

const keys = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PARAMETERS) },
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.constantFrom('username[]', 'grant_type[0]', '__proto__', 'constructor', 'hasOwnProperty', 'toString')
)

const contentTypes = fc.oneof(
  { weight: 4, arbitrary: fc.constant('application/x-www-form-urlencoded') },
  fc.constantFrom(
    undefined, '', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED',
    'application/x-www-form-urlencoded; charset=iso-8859-1', 'application/json', 'multipart/form-data; boundary=x',
    'text/plain', 'application/x-www-form-urlencoded, application/json'
  ),
  headerText()
)

const authorizations = (s: Setup): fc.Arbitrary<string | string[] | undefined> => fc.oneof(
  fc.constant(undefined),
  fc.tuple(
    fc.oneof(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'DPoP', 'Token', ''), headerText(10)),
    fc.constantFrom(' ', '  ', '\t', '', ' , '),
    tokens(s)
  ).map(([scheme, separator, token]) => `${scheme}${separator}${token}`),
  fc.constant(BASIC),
  fc.tuple(fc.string(), fc.string()).map(([id, secret]) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`),
  headerText(),
  fc.array(headerText(), { minLength: 2, maxLength: 3 })
)

/** Every value sent in the request, but for those also sent as `scope`: the server names the scopes it refuses. */
function submittedValues (pairs: ReadonlyArray<readonly [string, string]>, others: ReadonlyArray<string | string[] | undefined>): string[] {
  const scopes = new Set(pairs.filter(([key]) => key === 'scope').map(([, value]) => value))
  const sent = [...pairs.flat(), ...others.flat()].filter((value): value is string => value !== undefined)
  // A token after a scheme is checked on its own too.
  const tokensAfterSchemes = sent.flatMap(value => value.split(/[\s,]+/))
  return [...sent, ...tokensAfterSchemes].filter(value => !scopes.has(value))
}

/** Injects the request, leaving out the headers that are undefined (light-my-request refuses them), and checks the answer. */
async function send (
  app: FastifyInstance,
  url: string,
  submitted: readonly string[],
  { headers = {}, ...options }: Omit<InjectOptions, 'url' | 'headers'> & { headers?: Record<string, string | string[] | undefined> }
): Promise<void> {
  const present = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined))
  check(url, await app.inject({ url, headers: present, ...options }), submitted)
}

t.test(`random form bodies to the OAuth endpoints (seed ${SEED}, ${RUNS} runs)`, async t => {
  const s = await setup(t)
  const forms = fc.array(fc.tuple(keys, values(s)), { maxLength: 10 })
  const raw = fc.oneof(
    fc.string({ unit: fc.constantFrom('grant_type', 'password', '=', '&', '%', '%00', '%ED%A0%80', '%C0%AF', '+', 'a', '%2'), maxLength: 30 }),
    fc.uint8Array({ maxLength: 200 }).map(bytes => Buffer.from(bytes)),
    fc.string({ unit: 'binary', maxLength: 100 })
  )
  const password = [['grant_type', 'password'], ['username', 'johndoe'], ['password', PASSWORD]] as const
  const refresh = [['grant_type', 'refresh_token'], ['refresh_token', s.refresh]] as const
  const revocation = [['token', s.access]] as const
  // A valid request with some parameters replaced or added, to reach past the first checks.
  const nearValid = fc.tuple(fc.constantFrom<ReadonlyArray<readonly [string, string]>>(password, refresh, revocation), forms.map(pairs => pairs.slice(0, 3)))
    .map(([base, changes]) => [...base.filter(([key]) => !changes.some(([changed]) => changed === key)), ...changes]
      .map(([key, value]): [string, string] => [key, value]))
  await fc.assert(fc.asyncProperty(
    fc.oneof({ weight: 3, arbitrary: forms }, { weight: 3, arbitrary: nearValid }, raw), contentTypes, fc.option(authorizations(s)), fc.ipV4(),
    async (body, contentType, authorization, remoteAddress) => {
      const pairs = Array.isArray(body) ? body : []
      const payload = Array.isArray(body) ? new URLSearchParams(body).toString() : body
      const submitted = submittedValues(pairs, [authorization ?? undefined, typeof payload === 'string' ? payload : undefined])
      for (const url of OAUTH_ROUTES) {
        await send(s.app, url, submitted, {
          method: 'POST', payload, remoteAddress, headers: { 'content-type': contentType, Authorization: authorization ?? undefined }
        })
      }
    }
  ), { numRuns: RUNS, seed: SEED })
})

t.test(`random headers to every route (seed ${SEED}, ${RUNS} runs)`, async t => {
  const s = await setup(t)
  const extra = fc.dictionary(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/).filter(name =>
      !['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade', 'te', 'trailer', 'authorization', 'content-type'].includes(name)),
    headerText(),
    { maxKeys: 3 }
  )
  const bodies = fc.constantFrom(
    `token=${s.access}`,
    `grant_type=password&username=johndoe&password=${encodeURIComponent(PASSWORD)}`,
    `grant_type=refresh_token&refresh_token=${s.refresh}`
  )
  await fc.assert(fc.asyncProperty(
    authorizations(s), fc.option(contentTypes), extra, bodies, fc.ipV4(),
    async (authorization, contentType, headers, body, remoteAddress) => {
      const submitted = submittedValues([], [authorization, ...Object.values(headers)])
      const common = { remoteAddress, headers: { ...headers, Authorization: authorization, 'content-type': contentType ?? undefined } }
      for (const url of OAUTH_ROUTES) await send(s.app, url, submitted, { method: 'POST', payload: body, ...common })
      for (const url of [...PROTECTED_ROUTES, ...PUBLIC_ROUTES]) await send(s.app, url, submitted, { method: 'GET', ...common })
    }
  ), { numRuns: RUNS, seed: SEED })
})

t.test(`random tokens to every route that reads one (seed ${SEED}, ${RUNS} runs)`, async t => {
  const s = await setup(t)
  await fc.assert(fc.asyncProperty(tokens(s), fc.ipV4(), async (token, remoteAddress) => {
    const submitted = submittedValues([], [token])
    for (const url of PROTECTED_ROUTES) {
      await send(s.app, url, submitted, { method: 'GET', remoteAddress, headers: { authorization: `Bearer ${token}` } })
    }
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const refresh = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString()
    await send(s.app, '/token', submitted, { method: 'POST', payload: refresh, remoteAddress, headers: form })
    // As the backend, which may revoke only its own tokens: the real ones live on for later runs.
    for (const url of ['/introspect', '/revoke']) {
      await send(s.app, url, submitted, { method: 'POST', payload: new URLSearchParams({ token }).toString(), remoteAddress, headers: { ...form, authorization: BASIC } })
    }
  }), { numRuns: RUNS, seed: SEED })
})
