import t, { type Test } from 'tap'
import { generateKeyPair, generateProof, type KeyPair } from 'dpop'
import { openStore } from '../../store/index.js'
import { PASSWORD, addUser } from '../helper.js'
import { POSTGRES_URL, REDIS_URL, call, freshSchema, startServer, unique, withPostgres, type Answer, type Server } from './helper.js'

// A DPoP proof's jti is accepted once on every instance that shares the store or Redis
// (RFC 9449 §11.1). Two server processes behind one public name: the requests carry the Host of
// that name, as a load balancer passes it on, so that a proof made for one instance fits the other.

const SKIP = POSTGRES_URL === '' || REDIS_URL === '' ? 'TEST_POSTGRES_URL/TEST_REDIS_URL not set: DPoP replay tests skipped' : false
const HOST = 'auth.dpop.test'
const PUBLIC = `http://${HOST}`

async function login (server: Server, username: string, proof: string): Promise<Answer> {
  return await call(`${server.url}/token`, {
    method: 'POST',
    headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
    body: new URLSearchParams({ grant_type: 'password', username, password: PASSWORD }).toString()
  })
}

async function me (server: Server, token: string, proof: string): Promise<Answer> {
  return await call(`${server.url}/users/me`, { headers: { host: HOST, authorization: `DPoP ${token}`, dpop: proof } })
}

async function meProof (keys: KeyPair, token: string): Promise<string> {
  return await generateProof(keys, `${PUBLIC}/users/me`, 'GET', undefined, token)
}

function assertReplayRefused (t: Test, answer: Answer, message: string): void {
  t.equal(answer.status, 401, message, { body: answer.body })
  t.equal(answer.json().code, 'OAUTH2_INVALID_DPOP_PROOF', message)
  t.match(answer.headers['www-authenticate'], /^DPoP algs="[^"]+", error="invalid_dpop_proof", error_description="The DPoP proof was used before"$/, message)
}

/** The replay checks on two instances `a` and `b` of one deployment, sharing a user `username`. */
async function checkReplays (t: Test, a: Server, b: Server, username: string): Promise<void> {
  const keys = await generateKeyPair('ES256')

  const loginProof = await generateProof(keys, `${PUBLIC}/token`, 'POST')
  const loggedIn = await login(a, username, loginProof)
  t.equal(loggedIn.status, 200, 'login with a proof on A', { body: loggedIn.body })
  t.equal(loggedIn.json().token_type, 'DPoP')
  const token: string = loggedIn.json().access_token
  const replayedLogin = await login(b, username, loginProof)
  t.equal(replayedLogin.status, 400, 'the login\'s proof again on B', { body: replayedLogin.body })
  t.strictSame(replayedLogin.json(), { error: 'invalid_dpop_proof', error_description: 'The DPoP proof was used before' })

  const first = await meProof(keys, token)
  t.equal((await me(a, token, first)).status, 200, 'a protected call on A')
  assertReplayRefused(t, await me(b, token, first), 'its proof again on B')
  const second = await meProof(keys, token)
  t.equal((await me(b, token, second)).status, 200, 'a protected call on B')
  assertReplayRefused(t, await me(a, token, second), 'its proof again on A')

  // One proof sent six times to each instance at once: whoever records it first takes it, once.
  const raced = await meProof(keys, token)
  const answers = await Promise.all(Array.from({ length: 12 }, async (_, index) => await me(index % 2 === 0 ? a : b, token, raced)))
  t.equal(answers.filter(answer => answer.status === 200).length, 1, 'one of twelve simultaneous uses across both instances')
  for (const answer of answers.filter(answer => answer.status !== 200)) assertReplayRefused(t, answer, 'the others')
}

async function storedProofs (schema: string): Promise<number> {
  return await withPostgres(schema, async client => (await client.query<{ count: number }>('SELECT count(*)::integer AS count FROM dpop_proofs')).rows[0]?.count ?? -1)
}

t.test('two instances sharing PostgreSQL and Redis take each DPoP proof once between them, in Redis', { skip: SKIP }, async t => {
  const { schema, url } = freshSchema(t, 'dpop_')
  const env = { DATABASE_URL: url, REDIS_URL }
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)])
  const store = await openStore(url)
  t.teardown(() => store.close())
  const username = unique('dpop-user-')
  await addUser(store, username)
  await checkReplays(t, a, b, username)
  t.equal(await storedProofs(schema), 0, 'the proofs are in Redis, not in the store')
})

t.test('two instances sharing PostgreSQL alone take each DPoP proof once between them, in the store', { skip: SKIP }, async t => {
  const { schema, url } = freshSchema(t, 'dpop_')
  const env = { DATABASE_URL: url }
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)])
  const store = await openStore(url)
  t.teardown(() => store.close())
  const username = unique('dpop-user-')
  await addUser(store, username)
  await checkReplays(t, a, b, username)
  // The login's, the two calls', the raced one's; none of the refused ones added a row.
  t.equal(await storedProofs(schema), 4, 'one row per proof taken')
})
