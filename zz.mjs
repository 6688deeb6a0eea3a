import Fastify from 'fastify'
import oauth2Password from './dist/plugins/auth.js'
import { PasswordHasher } from './dist/passwords/hasher.js'
import { AccessTokenIssuer } from './dist/tokens/access.js'
import { KeyRing } from './dist/tokens/keys.js'
const app = Fastify()
await app.register(oauth2Password, { store: 'memory:', issuer: 'http://x.test', scopes: { me: 'x' }, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
app.get('/p', { preHandler: app.authenticate }, async () => ({ ok: true }))
app.get('/o', async () => ({ ok: true }))
await app.ready()
const hasher = new PasswordHasher({ argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
const user = await app.authStore.createUser({ username: 'u', scopes: ['me'], passwordHash: await hasher.hash('p'.repeat(20)) })
const r = await app.inject({ method: 'POST', url: '/token', payload: 'grant_type=password&username=u&password=' + 'p'.repeat(20), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
const token = r.json().access_token
const sid = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).sid
const keys = new KeyRing(await app.authStore.listSigningKeys())
const issuer = new AccessTokenIssuer({ issuer: 'http://x.test', audience: 'http://x.test', ttl: 900, keys: () => keys })
const N = 3000
const mint = () => Array.from({ length: N }, () => issuer.issue({ userId: user.id, tokenVersion: 0, scopes: ['me'], clientId: 'first-party', familyId: sid }).token)
async function time (name, f) { const s = performance.now(); for (let i = 0; i < N; i++) { const x = await f(i); if (x.statusCode !== 200) throw new Error(x.body) } console.log(name, ((performance.now() - s) * 1000 / N).toFixed(1), 'µs') }
for (let k = 0; k < 3; k++) {
const tokens = mint()
await time('open', () => app.inject({ url: '/o' }))
await time('warm', () => app.inject({ url: '/p', headers: { authorization: 'Bearer ' + token } }))
await time('cold', i => app.inject({ url: '/p', headers: { authorization: 'Bearer ' + tokens[i] } }))
}
await app.close()
