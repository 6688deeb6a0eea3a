import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, addUser, login, me } from '../helper.js'
import { generateSigningKey } from '../../tokens/keys.js'

const ISSUER = 'http://127.0.0.1:3000'
/** docs/contract.md §9: `keys rotate` reaches running instances within five seconds. */
const REACH = 5000

/** The header of a JWT, unverified. */
function header (jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

async function jwksKids (app: FastifyInstance): Promise<string[]> {
  const response = await app.inject({ url: '/.well-known/jwks.json' })
  return (response.json() as { keys: Array<{ kid: string }> }).keys.map(key => key.kid)
}

/** Polls `check` until it holds, for at most `REACH` ms; returns how long that took. */
async function eventually (t: Test, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now()
  while (!await check()) {
    if (Date.now() - start > REACH) {
      t.fail(`${what} within ${REACH} ms`)
      return Date.now() - start
    }
    await sleep(100)
  }
  t.pass(`${what} after ${Date.now() - start} ms`)
  return Date.now() - start
}

t.test('key rotation reaches a running server, and old tokens live until their key leaves', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const [k1] = await app.authStore.listSigningKeys()
  if (k1 === undefined) throw new Error('no signing key')
  const old = (await login(app, 'johndoe')).access_token
  t.equal(header(old).kid, k1.kid, 'signed by K1')

  const k2 = generateSigningKey('ES256')
  await app.authStore.addSigningKey(k2)
  let fresh = ''
  await eventually(t, 'the JWKS lists K1 and K2 and new tokens are signed by K2', async () => {
    const kids = await jwksKids(app)
    if (!kids.includes(k1.kid) || !kids.includes(k2.kid)) return false
    fresh = (await login(app, 'johndoe')).access_token
    return header(fresh).kid === k2.kid
  })
  t.strictSame(await jwksKids(app), [k2.kid, k1.kid], 'newest first')
  t.equal((await me(app, fresh)).statusCode, 200, 'the K2 token works')
  const stillOk = await me(app, old)
  t.equal(stillOk.statusCode, 200, `the K1 token still works: ${stillOk.body}`)

  await app.authStore.removeSigningKeys([k1.kid])
  await eventually(t, 'the K1 token is refused and the JWKS drops K1', async () => {
    return (await me(app, old)).statusCode === 401 && !(await jwksKids(app)).includes(k1.kid)
  })
  const refused = await me(app, old)
  t.equal(refused.statusCode, 401, refused.body)
  t.equal(refused.json().code, 'OAUTH2_INVALID_TOKEN')
  t.match(refused.headers['www-authenticate'], new RegExp(`^Bearer realm="${ISSUER}", error="invalid_token", error_description="[^"]+"$`))
  t.strictSame(await jwksKids(app), [k2.kid])
  t.equal((await me(app, fresh)).statusCode, 200, 'the K2 token still works')
})
