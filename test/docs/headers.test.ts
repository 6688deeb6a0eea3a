import t from 'tap'
import { build } from '../helper.js'

/** A Content-Security-Policy header as directive name to its sources. */
function policy (header: unknown): Map<string, string[]> {
  if (typeof header !== 'string') throw new Error(`expected one Content-Security-Policy header, got ${JSON.stringify(header)}`)
  return new Map(header.split(';').map(part => part.trim()).filter(part => part !== '')
    .map(part => {
      const [name = '', ...sources] = part.split(/\s+/)
      return [name, sources]
    }))
}

t.test('every response carries the security headers', async t => {
  const { app } = await build(t)
  for (const url of ['/docs', '/docs/json', '/docs/static/swagger-ui-bundle.js', '/users/me', '/health', '/.well-known/jwks.json']) {
    const response = await app.inject({ url })
    t.equal(response.headers['x-content-type-options'], 'nosniff', url)
    t.equal(response.headers['referrer-policy'], 'no-referrer', url)
    t.equal(response.headers['x-frame-options'], 'SAMEORIGIN', url)
    t.equal(response.headers['cross-origin-opener-policy'], 'same-origin', url)
    t.ok(response.headers['content-security-policy'], url)
  }
})

t.test('the JSON API\'s policy allows nothing to load and no one to frame it', async t => {
  const { app } = await build(t)
  for (const url of ['/users/me', '/health', '/.well-known/oauth-authorization-server']) {
    const csp = policy((await app.inject({ url })).headers['content-security-policy'])
    t.same(csp.get('default-src'), ["'none'"], url)
    t.same(csp.get('frame-ancestors'), ["'none'"], url)
  }
})

t.test('Swagger UI\'s policy allows its own files and this server only, and no inline code', async t => {
  const { app } = await build(t)
  const response = await app.inject({ url: '/docs' })
  t.equal(response.statusCode, 200)
  const csp = policy(response.headers['content-security-policy'])
  t.same(csp.get('default-src'), ["'self'"])
  t.same(csp.get('script-src'), ["'self'"])
  t.same(csp.get('style-src'), ["'self'"])
  t.same(csp.get('script-src-attr'), ["'none'"])
  t.same(csp.get('object-src'), ["'none'"])
  t.same(csp.get('frame-ancestors'), ["'none'"])
  t.notOk(csp.has('upgrade-insecure-requests'), 'the standalone server may speak plain HTTP')
  t.notMatch(response.headers['content-security-policy'], /unsafe-inline|unsafe-eval/)
})

t.test('Strict-Transport-Security only over https (RFC 6797 §7.2)', async t => {
  t.test('not over plain http', async t => {
    const { app } = await build(t)
    const response = await app.inject({ url: '/health' })
    t.equal(response.headers['strict-transport-security'], undefined)
    t.equal(response.headers['x-content-type-options'], 'nosniff', 'the other headers are there')
  })
  t.test('not when an untrusted client says X-Forwarded-Proto: https', async t => {
    const { app } = await build(t)
    const response = await app.inject({ url: '/health', headers: { 'x-forwarded-proto': 'https' } })
    t.equal(response.headers['strict-transport-security'], undefined)
  })
  t.test('behind a trusted proxy that says https', async t => {
    const { app } = await build(t, { TRUST_PROXY: 'true' })
    const response = await app.inject({ url: '/health', headers: { 'x-forwarded-proto': 'https' } })
    t.match(response.headers['strict-transport-security'], /^max-age=\d+; includeSubDomains$/)
  })
})
