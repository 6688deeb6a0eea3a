import t from 'tap'
import { build, addUser, login } from '../helper.js'

const ISSUER = 'http://127.0.0.1:3000'

/** JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

t.test('GET /.well-known/oauth-authorization-server (RFC 8414)', async t => {
  const { app } = await build(t)
  const response = await app.inject({ url: '/.well-known/oauth-authorization-server' })
  t.equal(response.statusCode, 200, response.body)
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.equal(body.issuer, ISSUER)
  t.equal(body.token_endpoint, `${ISSUER}/token`)
  t.equal(body.jwks_uri, `${ISSUER}/.well-known/jwks.json`)
  t.equal(body.revocation_endpoint, `${ISSUER}/revoke`)
  t.equal(body.introspection_endpoint, `${ISSUER}/introspect`)
  t.strictSame(body.grant_types_supported, ['password', 'refresh_token'])
  t.strictSame(body.response_types_supported, [])
  t.strictSame(body.scopes_supported, ['me', 'items'])
  t.strictSame([...body.token_endpoint_auth_methods_supported].sort(), ['client_secret_basic', 'client_secret_post', 'none'])
  t.notOk(body.introspection_endpoint_auth_methods_supported.includes('none'), 'introspection needs a confidential client')
})

t.test('the metadata follows ISSUER', async t => {
  const { app } = await build(t, { ISSUER: 'https://auth.example.com' })
  const body = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json()
  t.equal(body.issuer, 'https://auth.example.com')
  t.equal(body.token_endpoint, 'https://auth.example.com/token')
  t.equal(body.jwks_uri, 'https://auth.example.com/.well-known/jwks.json')
})

t.test('every endpoint the metadata names answers', async t => {
  const { app } = await build(t)
  const body = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json()
  const path = (url: string): string => new URL(url).pathname
  t.equal((await app.inject({ url: path(body.jwks_uri) })).statusCode, 200)
  for (const endpoint of [body.token_endpoint, body.revocation_endpoint, body.introspection_endpoint]) {
    const response = await app.inject({ method: 'POST', url: path(endpoint), payload: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(response.statusCode, 400, `${endpoint} exists and wants parameters: ${response.body}`)
  }
})

for (const algorithm of ['ES256', 'EdDSA', 'RS256']) {
  t.test(`GET /.well-known/jwks.json with ${algorithm} keys`, async t => {
    const { app } = await build(t, { JWT_ALGORITHM: algorithm })
    await addUser(app.authStore, 'johndoe')
    const response = await app.inject({ url: '/.well-known/jwks.json' })
    t.equal(response.statusCode, 200, response.body)
    t.match(response.headers['content-type'], /^application\/json/)
    const { keys } = response.json() as { keys: Array<Record<string, unknown>> }
    t.equal(keys.length, 1)
    const stored = await app.authStore.listSigningKeys()
    for (const key of keys) {
      t.type(key.kid, 'string')
      t.type(key.kty, 'string')
      t.equal(key.alg, algorithm)
      t.equal(key.use, 'sig')
      t.equal(key.kid, stored[0]?.kid)
      for (const member of PRIVATE_MEMBERS) t.notOk(member in key, `no private member "${member}"`)
    }
    t.notOk(response.body.includes('PRIVATE'), 'no PEM private key either')

    const token = (await login(app, 'johndoe')).access_token
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'))
    t.equal(header.kid, keys[0]?.kid, 'the access token names a key the JWKS lists')
    t.equal(header.alg, algorithm)
  })
}
