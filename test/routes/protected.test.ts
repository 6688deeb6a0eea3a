import { randomUUID, sign as cryptoSign } from 'node:crypto'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createSigner, type Algorithm } from 'fast-jwt'
import { withLowS } from '../../tokens/access.js'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, addUser, login, sign, cheapHasher } from '../helper.js'
import { generateSigningKey } from '../../tokens/keys.js'
import type { SigningKey } from '../../store/types.js'

const ISSUER = 'http://127.0.0.1:3000'
const REALM = `Bearer realm="${ISSUER}"`

type Json = Record<string, unknown>

function decodePart (part: string | undefined): Json {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Json
}

/** The header and payload of a JWT, unverified. */
function decodeJwt (token: string): { header: Json, payload: Json } {
  const [header, payload] = token.split('.')
  return { header: decodePart(header), payload: decodePart(payload) }
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Signs without fast-jwt's checks, for claims it refuses to write. ES256 keys only. */
function signUnchecked (key: SigningKey, payload: Json): string {
  const input = `${base64url({ alg: key.alg, typ: 'at+jwt', kid: key.kid })}.${base64url(payload)}`
  const signature = cryptoSign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  return withLowS(`${input}.${signature.toString('base64url')}`)
}

async function serverKey (app: FastifyInstance): Promise<SigningKey> {
  const [key] = await app.authStore.listSigningKeys()
  if (key === undefined) throw new Error('the server has no signing key')
  return key
}

async function get (app: FastifyInstance, url: string, authorization?: string | string[]): Promise<LightMyRequestResponse> {
  // Capitalised, the name is not one of Node's typed headers, so it may take an array: the header sent twice.
  return await app.inject({ url, headers: authorization === undefined ? {} : { Authorization: authorization } })
}

/** A Fastify error: the status, `code`, the usual body keys and the exact challenge. */
function assertBearerError (t: Test, response: LightMyRequestResponse, status: number, code: string, challenge: string | RegExp): void {
  t.equal(response.statusCode, status, response.body)
  const body = response.json()
  t.equal(body.code, code)
  t.equal(body.statusCode, status)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
  if (typeof challenge === 'string') t.equal(response.headers['www-authenticate'], challenge)
  else t.match(response.headers['www-authenticate'], challenge)
}

const INVALID_TOKEN = new RegExp(`^${REALM}, error="invalid_token", error_description="[^"\\\\]+"$`)
const INVALID_REQUEST = new RegExp(`^${REALM}, error="invalid_request", error_description="[^"\\\\]+"$`)

t.test('demo routes (docs/contract.md §2)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe', { email: 'johndoe@example.com', fullName: 'John Doe' })
  await addUser(app.authStore, 'alice', { scopes: ['me', 'items'] })
  await addUser(app.authStore, 'bob', { scopes: ['items'] })
  await addUser(app.authStore, 'carol', { scopes: [] })
  const john = await login(app, 'johndoe')
  const alice = await login(app, 'alice')

  t.test('GET /users/me with email and full name', async t => {
    const response = await get(app, '/users/me', `Bearer ${john.access_token}`)
    t.equal(response.statusCode, 200, response.body)
    t.match(response.headers['content-type'], /^application\/json/)
    t.same(response.json(), {
      username: 'johndoe', email: 'johndoe@example.com', full_name: 'John Doe', disabled: false, scopes: ['me', 'items']
    })
    t.same(Object.keys(response.json()), ['username', 'email', 'full_name', 'disabled', 'scopes'])
  })

  t.test('GET /users/me with null email and full name', async t => {
    const response = await get(app, '/users/me', `Bearer ${alice.access_token}`)
    t.equal(response.statusCode, 200, response.body)
    t.strictSame(response.json(), { username: 'alice', email: null, full_name: null, disabled: false, scopes: ['me', 'items'] })
  })

  t.test('GET /users/me returns the scopes granted to the token', async t => {
    const narrow = await login(app, 'johndoe', { scope: 'me' })
    const response = await get(app, '/users/me', `Bearer ${narrow.access_token}`)
    t.equal(response.statusCode, 200, response.body)
    t.same(response.json().scopes, ['me'])
  })

  t.test('GET /users/me/items', async t => {
    const response = await get(app, '/users/me/items', `Bearer ${john.access_token}`)
    t.equal(response.statusCode, 200, response.body)
    t.match(response.headers['content-type'], /^application\/json/)
    t.strictSame(response.json(), [{ item_id: 'Foo', owner: 'johndoe' }])
  })

  t.test('GET /status answers to any valid access token, whatever its scopes', async t => {
    const tokens = [john, await login(app, 'johndoe', { scope: 'items' }), await login(app, 'bob'), await login(app, 'carol')]
    t.equal(tokens[3]?.scope, '', 'carol has no scope at all')
    for (const { access_token: token, scope } of tokens) {
      const response = await get(app, '/status', `Bearer ${token}`)
      t.equal(response.statusCode, 200, `scope "${scope}": ${response.body}`)
      t.strictSame(response.json(), { status: 'ok' })
    }
  })

  t.test('GET /status without a token', async t => {
    assertBearerError(t, await get(app, '/status'), 401, 'OAUTH2_TOKEN_MISSING', REALM)
  })

  t.test('GET /health needs nothing', async t => {
    const response = await get(app, '/health')
    t.equal(response.statusCode, 200, response.body)
    t.strictSame(response.json(), { status: 'ok' })
    t.equal(response.headers['www-authenticate'], undefined)
  })
})

t.test('GET /health answers 503 when the store does not answer, and says so', async t => {
  const { app, logs } = await build(t)
  app.authStore.ping = async () => { throw new Error('connection refused') }
  const response = await get(app, '/health')
  t.equal(response.statusCode, 503, response.body)
  t.strictSame(response.json(), { status: 'unavailable', unavailable: ['store'] })
  const line = logs().find(entry => entry.msg === 'store does not answer')
  t.ok(line, 'the failure is logged')
  t.match(line, { level: 50, err: { message: 'connection refused' } })
})

t.test('the Authorization header (docs/contract.md §4, §9)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: token } = await login(app, 'johndoe')

  const refused: Array<{ name: string, authorization?: string | string[], status: number, code: string, challenge: string | RegExp }> = [
    { name: 'no Authorization header', status: 401, code: 'OAUTH2_TOKEN_MISSING', challenge: REALM },
    { name: 'another scheme (Basic)', authorization: 'Basic xxx', status: 401, code: 'OAUTH2_TOKEN_MISSING', challenge: REALM },
    { name: 'another scheme with the token', authorization: `Token ${token}`, status: 401, code: 'OAUTH2_TOKEN_MISSING', challenge: REALM },
    { name: 'an empty Authorization header', authorization: '', status: 401, code: 'OAUTH2_TOKEN_MISSING', challenge: REALM },
    { name: 'Bearer with no token', authorization: 'Bearer', status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: INVALID_REQUEST },
    { name: 'Bearer and a space, with no token', authorization: 'Bearer ', status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: INVALID_REQUEST },
    { name: 'Bearer with two tokens', authorization: 'Bearer a b', status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: INVALID_REQUEST },
    { name: 'Bearer with a valid token and another', authorization: `Bearer ${token} ${token}`, status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: INVALID_REQUEST },
    { name: 'a token with a character outside b64token', authorization: 'Bearer abc$def', status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: INVALID_REQUEST },
    { name: 'a token with padding inside', authorization: 'Bearer ab=cd', status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: INVALID_REQUEST },
    { name: 'a token after a comma', authorization: `Bearer ${token},`, status: 400, code: 'OAUTH2_INVALID_REQUEST', challenge: INVALID_REQUEST },
    {
      name: 'two Authorization headers',
      authorization: [`Bearer ${token}`, `Bearer ${token}`],
      status: 400,
      code: 'OAUTH2_INVALID_REQUEST',
      challenge: INVALID_REQUEST
    },
    {
      name: 'a Bearer and a Basic Authorization header',
      authorization: [`Bearer ${token}`, 'Basic Og=='],
      status: 400,
      code: 'OAUTH2_INVALID_REQUEST',
      challenge: INVALID_REQUEST
    }
  ]
  for (const { name, authorization, status, code, challenge } of refused) {
    t.test(name, async t => {
      for (const url of ['/users/me', '/status']) {
        assertBearerError(t, await get(app, url, authorization), status, code, challenge)
      }
    })
  }

  const accepted: Array<{ name: string, authorization: string }> = [
    { name: 'Bearer', authorization: `Bearer ${token}` },
    { name: 'lower-case scheme', authorization: `bearer ${token}` },
    { name: 'upper-case scheme', authorization: `BEARER ${token}` },
    { name: 'several spaces before the token', authorization: `Bearer    ${token}` }
  ]
  for (const { name, authorization } of accepted) {
    t.test(name, async t => {
      const response = await get(app, '/users/me', authorization)
      t.equal(response.statusCode, 200, response.body)
      t.equal(response.json().username, 'johndoe')
      t.equal(response.headers['www-authenticate'], undefined)
    })
  }
})

t.test('invalid access tokens are 401 invalid_token, never 500 (docs/contract.md §4, §6)', async t => {
  const { app } = await build(t)
  const key = await serverKey(app)
  const otherKey = generateSigningKey('ES256')
  const hasher = cheapHasher()

  /** A user of its own for each case, so that changing it spoils no other case. */
  async function fresh (): Promise<{ id: string, token: string, header: Json, payload: Json }> {
    const username = `user-${randomUUID()}`
    const user = await addUser(app.authStore, username)
    const { access_token: token } = await login(app, username)
    return { id: user.id, token, ...decodeJwt(token) }
  }
  const now = (): number => Math.floor(Date.now() / 1000)

  const cases: Array<{ name: string, token: () => Promise<string> }> = [
    { name: 'garbage', token: async () => 'garbage' },
    { name: 'three garbage parts', token: async () => 'abc.def.ghi' },
    { name: 'a JWT without a signature part', token: async () => (await fresh()).token.split('.').slice(0, 2).join('.') },
    {
      name: 'a tampered payload',
      token: async () => {
        const { token, payload } = await fresh()
        const [header, , signature] = token.split('.')
        return `${header}.${base64url({ ...payload, scope: 'me items admin' })}.${signature}`
      }
    },
    {
      name: 'a tampered signature',
      token: async () => {
        const { token } = await fresh()
        const [header, payload, signature = ''] = token.split('.')
        return `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
      }
    },
    { name: 'signed by another key with the server\'s kid', token: async () => sign({ ...otherKey, kid: key.kid }, (await fresh()).payload) },
    { name: 'signed by another key with an unknown kid', token: async () => sign(otherKey, (await fresh()).payload) },
    { name: 'signed without a kid', token: async () => sign(key, (await fresh()).payload, { kid: undefined }) },
    { name: 'expired', token: async () => sign(key, { ...(await fresh()).payload, iat: now() - 1000, exp: now() - 100 }) },
    { name: 'not yet valid (nbf in the future)', token: async () => sign(key, { ...(await fresh()).payload, nbf: now() + 600 }) },
    { name: 'a non-numeric exp', token: async () => signUnchecked(key, { ...(await fresh()).payload, exp: String(now() + 600) }) },
    { name: 'a non-numeric nbf', token: async () => signUnchecked(key, { ...(await fresh()).payload, nbf: String(now() - 600) }) },
    { name: 'without exp', token: async () => sign(key, { ...(await fresh()).payload, exp: undefined }) },
    { name: 'a wrong issuer', token: async () => sign(key, { ...(await fresh()).payload, iss: 'http://evil.test' }) },
    { name: 'a wrong audience', token: async () => sign(key, { ...(await fresh()).payload, aud: 'http://other.test' }) },
    { name: 'typ JWT instead of at+jwt', token: async () => sign(key, (await fresh()).payload, { typ: 'JWT' }) },
    { name: 'without typ', token: async () => sign(key, (await fresh()).payload, { typ: undefined }) },
    {
      name: 'an unknown crit header',
      token: async () => sign(key, (await fresh()).payload, { crit: ['https://example.test/ext'], 'https://example.test/ext': true })
    },
    {
      name: 'alg none',
      token: async () => {
        const { header, payload } = await fresh()
        return `${base64url({ ...header, alg: 'none' })}.${base64url(payload)}.`
      }
    },
    {
      name: 'alg HS256 keyed with the server\'s public key',
      token: async () => {
        const { payload } = await fresh()
        const signer = createSigner({ key: key.publicKey, algorithm: 'HS256' as Algorithm, kid: key.kid, header: { alg: 'HS256', typ: 'at+jwt' } })
        return signer(payload)
      }
    },
    { name: 'the username as sub', token: async () => sign(key, { ...(await fresh()).payload, sub: 'johndoe' }) },
    { name: 'without the token version', token: async () => sign(key, { ...(await fresh()).payload, ver: undefined }) },
    {
      name: 'a removed user',
      token: async () => {
        const { id, token } = await fresh()
        t.equal(await app.authStore.removeUser(id), true)
        return token
      }
    },
    {
      name: 'a removed and re-added username',
      token: async () => {
        const username = `user-${randomUUID()}`
        const user = await addUser(app.authStore, username)
        const { access_token: token } = await login(app, username)
        await app.authStore.removeUser(user.id)
        await addUser(app.authStore, username)
        return token
      }
    },
    {
      name: 'a disabled user (tokens revoked)',
      token: async () => {
        const { id, token } = await fresh()
        await app.authStore.updateUser(id, { disabled: true, revokeTokens: true })
        return token
      }
    },
    {
      name: 'a disabled user (tokens not revoked)',
      token: async () => {
        const { id, token } = await fresh()
        await app.authStore.updateUser(id, { disabled: true })
        return token
      }
    },
    {
      name: 'a password changed since issue',
      token: async () => {
        const { id, token } = await fresh()
        await app.authStore.updateUser(id, { passwordHash: await hasher.hash('another password, long enough'), revokeTokens: true })
        return token
      }
    }
  ]

  for (const { name, token } of cases) {
    t.test(name, async t => {
      const value = await token()
      for (const url of ['/users/me', '/users/me/items', '/status']) {
        assertBearerError(t, await get(app, url, `Bearer ${value}`), 401, 'OAUTH2_INVALID_TOKEN', INVALID_TOKEN)
      }
    })
  }

  t.test('the token forgers themselves make tokens the server accepts', async t => {
    const { payload } = await fresh()
    for (const token of [sign(key, payload), signUnchecked(key, payload)]) {
      const response = await get(app, '/users/me', `Bearer ${token}`)
      t.equal(response.statusCode, 200, response.body)
    }
  })
})

t.test('a token without a scope the route needs is 403 insufficient_scope', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const me = await login(app, 'johndoe', { scope: 'me' })
  const items = await login(app, 'johndoe', { scope: 'items' })

  const cases = [
    { name: 'scope me on /users/me/items', url: '/users/me/items', token: me.access_token },
    { name: 'scope items on /users/me/items', url: '/users/me/items', token: items.access_token },
    { name: 'scope items on /users/me', url: '/users/me', token: items.access_token }
  ]
  for (const { name, url, token } of cases) {
    t.test(name, async t => {
      const needed = url === '/users/me' ? 'me' : 'me items'
      assertBearerError(t, await get(app, url, `Bearer ${token}`), 403, 'OAUTH2_INSUFFICIENT_SCOPE',
        `${REALM}, error="insufficient_scope", scope="${needed}"`)
    })
  }
})

t.test('the access token (docs/contract.md §6)', async t => {
  const { app } = await build(t)
  const user = await addUser(app.authStore, 'johndoe')
  const before = Math.floor(Date.now() / 1000)
  const first = await login(app, 'JohnDoe', { scope: 'me' })
  const second = await login(app, 'johndoe')
  const after = Math.floor(Date.now() / 1000)

  const jwks = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(jwks.statusCode, 200, jwks.body)
  const kids = (jwks.json() as { keys: Array<{ kid: string, alg: string }> }).keys.map(({ kid }) => kid)

  const { header, payload } = decodeJwt(first.access_token)
  t.strictSame(Object.keys(header).sort(), ['alg', 'kid', 'typ'])
  t.equal(header.typ, 'at+jwt')
  t.equal(header.alg, 'ES256')
  t.ok(kids.includes(header.kid as string), 'the kid is in the JWKS')

  t.equal(payload.iss, ISSUER)
  t.equal(payload.sub, user.id, 'sub is the user\'s id')
  t.not(payload.sub, 'johndoe', 'never the username')
  t.equal(payload.aud, ISSUER, 'the audience defaults to the issuer')
  t.type(payload.iat, 'number')
  t.ok((payload.iat as number) >= before && (payload.iat as number) <= after, 'iat is now')
  t.equal((payload.exp as number) - (payload.iat as number), 900)
  t.match(payload.jti, /^[\w-]{16,}$/)
  t.equal(payload.scope, 'me')
  t.equal(payload.client_id, 'first-party')

  const other = decodeJwt(second.access_token).payload
  t.not(other.jti, payload.jti, 'jti is unique per token')
  t.equal(other.scope, 'me items')
  t.equal(other.sub, user.id)
})

for (const algorithm of ['ES256', 'EdDSA', 'RS256']) {
  t.test(`JWT_ALGORITHM=${algorithm}`, async t => {
    const { app } = await build(t, { JWT_ALGORITHM: algorithm })
    await addUser(app.authStore, 'johndoe')
    const { access_token: token } = await login(app, 'johndoe')
    const { header } = decodeJwt(token)
    t.equal(header.alg, algorithm)
    t.equal(header.typ, 'at+jwt')
    const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: Array<{ kid: string, alg: string }> }
    t.same(jwks.keys.map(({ kid, alg }) => ({ kid, alg })), [{ kid: header.kid, alg: algorithm }])
    const response = await get(app, '/users/me', `Bearer ${token}`)
    t.equal(response.statusCode, 200, response.body)
    t.equal(response.json().username, 'johndoe')
  })
}

t.test('a restart keeps issued tokens valid (keys and users live in the store)', async t => {
  const dir = t.testdir()
  const env = { DATABASE_URL: `sqlite:${join(dir, 'auth.db')}` }
  let token = ''
  let kid: unknown

  await t.test('first instance issues a token', async t => {
    const { app } = await build(t, env)
    await addUser(app.authStore, 'johndoe')
    token = (await login(app, 'johndoe')).access_token
    kid = decodeJwt(token).header.kid
  })

  await t.test('second instance on the same file accepts it', async t => {
    const { app } = await build(t, env)
    t.equal((await serverKey(app)).kid, kid, 'the same signing key')
    const response = await get(app, '/users/me', `Bearer ${token}`)
    t.equal(response.statusCode, 200, response.body)
    t.equal(response.json().username, 'johndoe')
  })
})

t.test('a user cached by authenticate is refused within one second of being disabled or of a password change', async t => {
  const { app } = await build(t)
  const hasher = cheapHasher()
  const changes = {
    disabled: async (id: string) => await app.authStore.updateUser(id, { disabled: true, revokeTokens: true }),
    'password changed': async (id: string) => await app.authStore.updateUser(id, { passwordHash: await hasher.hash('another password, long enough'), revokeTokens: true })
  }
  for (const [name, change] of Object.entries(changes)) {
    const user = await addUser(app.authStore, `user-${name.replace(' ', '-')}`)
    const { access_token: token } = await login(app, user.username)
    const call = () => app.inject({ url: '/status', headers: { authorization: `Bearer ${token}` } })
    t.equal((await call()).statusCode, 200, `${name}: the user is cached`)
    await change(user.id)
    const changedAt = Date.now()
    let response = await call()
    while (response.statusCode === 200 && Date.now() - changedAt < 1000) {
      await new Promise(resolve => setTimeout(resolve, 50))
      response = await call()
    }
    t.equal(response.statusCode, 401, `${name}: refused`)
    t.ok(Date.now() - changedAt < 1000, `${name}: within one second`)
  }
})
