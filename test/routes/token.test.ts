import t from 'tap'
import type { InjectOptions } from 'fastify'
import { build, addUser, login, PASSWORD, token, basic, assertOAuthError } from '../helper.js'
import { PasswordHasher } from '../../passwords/hasher.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

const passwordGrant = (fields: Record<string, string> = {}): Record<string, string> =>
  ({ grant_type: 'password', username: 'johndoe', password: PASSWORD, ...fields })

/** The cost parameters of an argon2 PHC string, whatever order the library writes them in. */
function argon2Parameters (hash: string): Record<string, number> {
  const segment = hash.split('$')[3] ?? ''
  return Object.fromEntries(segment.split(',').map(pair => {
    const [name = '', value = ''] = pair.split('=')
    return [name, Number(value)]
  }))
}

t.test('password grant: success', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe', { scopes: ['me', 'items'] })

  const cases: Array<{ name: string, fields: Record<string, string>, scope: string }> = [
    { name: 'no scope asked grants every scope of the user', fields: {}, scope: 'me items' },
    { name: 'an empty scope counts as none asked', fields: { scope: '' }, scope: 'me items' },
    { name: 'scope=me grants me only', fields: { scope: 'me' }, scope: 'me' },
    { name: 'scope=items me grants both, in the order asked', fields: { scope: 'items me' }, scope: 'items me' }
  ]
  for (const { name, fields, scope } of cases) {
    t.test(name, async t => {
      const response = await token(app, passwordGrant(fields))
      t.equal(response.statusCode, 200, response.body)
      t.equal(response.headers['cache-control'], 'no-store')
      t.equal(response.headers.pragma, 'no-cache')
      t.match(response.headers['content-type'], /^application\/json/)
      const body = response.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
      t.match(body.refresh_token, /^[\w-]{32,}$/)
      t.not(body.refresh_token, body.access_token)
      t.type(body.access_token, 'string')
      t.match(body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
      t.equal(body.token_type, 'bearer')
      t.equal(body.expires_in, 900)
      t.equal(body.scope, scope)
    })
  }
})

t.test('password grant: usernames are compared in canonical form', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  for (const username of ['johndoe', 'JOHNDOE', 'JohnDoe', 'ＪｏｈｎＤｏｅ']) {
    const response = await token(app, passwordGrant({ username }))
    t.equal(response.statusCode, 200, `${username}: ${response.body}`)
    const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${response.json().access_token}` } })
    t.equal(me.json().username, 'johndoe', username)
  }
})

t.test('password grant: Swagger UI\'s empty Basic client (Basic Og==) names no client', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const response = await token(app, passwordGrant(), { authorization: 'Basic Og==' })
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.json().token_type, 'bearer')
  t.equal(response.headers['cache-control'], 'no-store')
  t.equal(response.headers.pragma, 'no-cache')
})

t.test('password grant: a form content type with a charset parameter is a form', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const response = await token(app, passwordGrant(), { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' })
  t.equal(response.statusCode, 200, response.body)
})

t.test('password grant: the first-party client named in the body logs in', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const response = await token(app, passwordGrant({ client_id: 'first-party' }))
  t.equal(response.statusCode, 200, response.body)
})

t.test('password grant: errors (docs/contract.md §3)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe', { scopes: ['me'] })
  const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString()

  const cases: Array<{
    name: string
    request: InjectOptions
    status: number
    error: string
    /** Whether the answer carries a Basic challenge. */
    basicChallenge?: boolean
  }> = [
    { name: 'missing grant_type', request: { payload: form({ username: 'johndoe', password: PASSWORD }) }, status: 400, error: 'invalid_request' },
    { name: 'missing username', request: { payload: form({ grant_type: 'password', password: PASSWORD }) }, status: 400, error: 'invalid_request' },
    { name: 'empty username', request: { payload: form(passwordGrant({ username: '' })) }, status: 400, error: 'invalid_request' },
    { name: 'missing password', request: { payload: form({ grant_type: 'password', username: 'johndoe' }) }, status: 400, error: 'invalid_request' },
    { name: 'empty password', request: { payload: form(passwordGrant({ password: '' })) }, status: 400, error: 'invalid_request' },
    {
      name: 'repeated parameter (username=a&username=b)',
      request: { payload: `grant_type=password&username=a&username=b&password=${encodeURIComponent(PASSWORD)}` },
      status: 400,
      error: 'invalid_request'
    },
    {
      name: 'repeated grant_type',
      request: { payload: `grant_type=password&grant_type=password&username=johndoe&password=${encodeURIComponent(PASSWORD)}` },
      status: 400,
      error: 'invalid_request'
    },
    {
      name: 'JSON body',
      request: { payload: JSON.stringify(passwordGrant()), headers: { 'content-type': 'application/json' } },
      status: 400,
      error: 'invalid_request'
    },
    {
      name: 'text/plain body',
      request: { payload: form(passwordGrant()), headers: { 'content-type': 'text/plain' } },
      status: 400,
      error: 'invalid_request'
    },
    {
      name: 'multipart body',
      request: { payload: '--x\r\n\r\n--x--', headers: { 'content-type': 'multipart/form-data; boundary=x' } },
      status: 400,
      error: 'invalid_request'
    },
    { name: 'no body', request: { headers: { 'content-type': undefined } }, status: 400, error: 'invalid_request' },
    { name: 'empty form body', request: { payload: '' }, status: 400, error: 'invalid_request' },
    {
      name: 'garbage body',
      request: { payload: Buffer.from([0x00, 0xff, 0xfe, 0x25, 0x25, 0x3d, 0x26, 0x80]) },
      status: 400,
      error: 'invalid_request'
    },
    // Form parsing is lenient (as WHATWG's is): bad percent-escapes stay literal, so garbage parses to no grant_type.
    { name: 'unparsable body', request: { payload: '%%%&&&===%E0%A4%A' }, status: 400, error: 'invalid_request' },
    { name: 'grant_type=foo', request: { payload: form(passwordGrant({ grant_type: 'foo' })) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'grant_type=PASSWORD', request: { payload: form(passwordGrant({ grant_type: 'PASSWORD' })) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'grant_type=client_credentials', request: { payload: form(passwordGrant({ grant_type: 'client_credentials' })) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'unknown scope', request: { payload: form(passwordGrant({ scope: 'admin' })) }, status: 400, error: 'invalid_scope' },
    { name: 'a scope the user may not have', request: { payload: form(passwordGrant({ scope: 'me items' })) }, status: 400, error: 'invalid_scope' },
    { name: 'a scope that is no scope token', request: { payload: form(passwordGrant({ scope: 'me "items"' })) }, status: 400, error: 'invalid_scope' },
    { name: 'a client that is not first-party, in the body', request: { payload: form(passwordGrant({ client_id: 'other' })) }, status: 401, error: 'invalid_client', basicChallenge: false },
    {
      name: 'a client that is not first-party, in the body with a secret',
      request: { payload: form(passwordGrant({ client_id: 'other', client_secret: 'secret' })) },
      status: 401,
      error: 'invalid_client',
      basicChallenge: false
    },
    {
      name: 'the first-party client with a secret (it has none)',
      request: { payload: form(passwordGrant({ client_id: 'first-party', client_secret: 'secret' })) },
      status: 401,
      error: 'invalid_client',
      basicChallenge: false
    },
    {
      name: 'a client that is not first-party, in Basic',
      request: { payload: form(passwordGrant()), headers: { authorization: basic('other', 'secret') } },
      status: 401,
      error: 'invalid_client',
      basicChallenge: true
    },
    {
      name: 'malformed Basic credentials',
      request: { payload: form(passwordGrant()), headers: { authorization: 'Basic !!!' } },
      status: 401,
      error: 'invalid_client',
      basicChallenge: true
    },
    {
      name: 'Basic and client_id in the body',
      request: { payload: form(passwordGrant({ client_id: 'other' })), headers: { authorization: basic('other', 'secret') } },
      status: 400,
      error: 'invalid_request'
    },
    {
      name: 'client_secret without client_id',
      request: { payload: form(passwordGrant({ client_secret: 'secret' })) },
      status: 400,
      error: 'invalid_request'
    }
  ]

  for (const { name, request, status, error, basicChallenge } of cases) {
    t.test(name, async t => {
      const response = await app.inject({
        method: 'POST',
        url: '/token',
        ...request,
        headers: { ...FORM, ...request.headers }
      })
      assertOAuthError(t, response, status, error)
      if (basicChallenge === true) {
        t.match(response.headers['www-authenticate'], /^Basic /)
      } else {
        t.equal(response.headers['www-authenticate'], undefined, 'no challenge unless Basic was used')
      }
    })
  }
})

t.test('password grant: unknown user and wrong password answer alike', async t => {
  const { app } = await build(t)
  const user = await addUser(app.authStore, 'johndoe')
  await addUser(app.authStore, 'alice')
  await app.authStore.updateUser(user.id, { disabled: true })

  const unknown = await token(app, passwordGrant({ username: 'nobody' }))
  const wrong = await token(app, passwordGrant({ username: 'alice', password: 'not the password at all' }))
  const disabledWrong = await token(app, passwordGrant({ password: 'not the password at all' }))
  const disabledRight = await token(app, passwordGrant())
  const invalidUsername = await token(app, passwordGrant({ username: 'john doe' }))

  for (const response of [unknown, wrong, disabledWrong, disabledRight, invalidUsername]) {
    assertOAuthError(t, response, 400, 'invalid_grant')
  }
  t.equal(wrong.body, unknown.body, 'unknown user and wrong password: identical bodies')
  t.equal(disabledWrong.body, wrong.body, 'a disabled user with a wrong password looks like any wrong password')
  t.equal(invalidUsername.body, unknown.body, 'an impossible username looks like an unknown one')
  t.not(disabledRight.body, wrong.body, 'only the right password learns that the user is disabled')
})

t.test('password grant: a hash made with other parameters is upgraded after a successful login only', async t => {
  const { app } = await build(t)
  const oldHasher = new PasswordHasher({ argon2: { memoryCost: 1024, timeCost: 2, parallelism: 1 } })
  const oldHash = await oldHasher.hash(PASSWORD)
  t.same(argon2Parameters(oldHash), { m: 1024, t: 2, p: 1 })
  const user = await app.authStore.createUser({ username: 'johndoe', scopes: ['me'], passwordHash: oldHash })

  const failed = await token(app, passwordGrant({ password: 'not the password at all' }))
  assertOAuthError(t, failed, 400, 'invalid_grant')
  t.equal((await app.authStore.findUserById(user.id))?.passwordHash, oldHash, 'a failed login changes nothing')

  const succeeded = await token(app, passwordGrant())
  t.equal(succeeded.statusCode, 200, succeeded.body)
  const newHash = (await app.authStore.findUserById(user.id))?.passwordHash ?? ''
  t.not(newHash, oldHash)
  t.match(newHash, /^\$argon2id\$/)
  t.same(argon2Parameters(newHash), { m: 1024, t: 1, p: 1 }, 'rehashed with the app\'s parameters')
  t.equal(await oldHasher.verify(newHash, PASSWORD), true, 'the new hash still matches the password')

  // And the upgraded hash keeps working, without another upgrade.
  await login(app, 'johndoe')
  t.equal((await app.authStore.findUserById(user.id))?.passwordHash, newHash)
})
