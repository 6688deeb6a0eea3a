import { verify } from 'node:crypto'
import Fastify from 'fastify'
import oauth2Password from '../plugins/auth.js'
import { SIGNING_ALGORITHMS } from '../tokens/keys.js'
import { verifyArguments } from './signature.js'

// The baselines the standalone server is compared with, each in its own process as the server is:
// - `bare`: Fastify with no plugin at all, answering GET /users/me with the body the standalone
//   server's /users/me answers (passed in BENCH_BODY), and nothing else: what Fastify alone costs;
// - `verify`: the same, except that each request's bearer token has its signature checked, with the
//   public key in BENCH_PUBLIC_KEY (PEM) for BENCH_ALG, and nothing else: what a cold request (a
//   token never seen before) cannot beat in any server, its bound;
// - `plugin`: Fastify with only the auth plugin, and one route twice, GET /protected behind
//   `authenticate` and GET /open without it: what the plugin adds to a host's route.

const mode = process.argv[2]
const server = Fastify()
const body = JSON.parse(process.env.BENCH_BODY ?? '{}') as Record<string, unknown>
if (mode === 'bare') {
  server.get('/users/me', async () => body)
} else if (mode === 'verify') {
  const alg = SIGNING_ALGORITHMS.find(name => name === process.env.BENCH_ALG)
  if (alg === undefined) throw new Error(`bench/bare.js verify takes BENCH_ALG of ${SIGNING_ALGORITHMS.join(', ')}`)
  const { digest, key } = verifyArguments(process.env.BENCH_PUBLIC_KEY ?? '', alg)
  server.get('/users/me', async (request, reply) => {
    const token = request.headers.authorization?.slice('Bearer '.length) ?? ''
    const dot = token.lastIndexOf('.')
    if (!verify(digest, Buffer.from(token.slice(0, dot)), key, Buffer.from(token.slice(dot + 1), 'base64url'))) {
      return await reply.code(401).send({ detail: 'the signature does not verify' })
    }
    return body
  })
} else if (mode === 'plugin') {
  await server.register(oauth2Password, {
    store: process.env.DATABASE_URL ?? '',
    issuer: process.env.ISSUER ?? '',
    scopes: { me: 'Read information about the current user.', items: 'Read items.' }
  })
  server.get('/protected', { preHandler: server.authenticate, config: { scopes: ['me'] } }, async () => ({ status: 'ok' }))
  server.get('/open', async () => ({ status: 'ok' }))
} else {
  throw new Error(`bench/bare.js takes bare, verify or plugin, not ${String(mode)}`)
}

// As bench/server.ts: what the benchmark reads of this process between runs.
server.get('/bench-process', async () => {
  const { user, system } = process.cpuUsage()
  return { cpu: user + system, rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 }
})

const address = await server.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening on ${address}\n`)
process.stdin.resume()
process.stdin.on('end', () => {
  server.close().then(() => process.exit(0), () => process.exit(1))
})
