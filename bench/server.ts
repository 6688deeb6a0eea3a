import '../runtime/tick-objects.js'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import app from '../app.js'
import { loadConfig } from '../config/index.js'
import { serverLogging } from '../config/logger.js'
import { Status } from '../schemas/users.js'

// The standalone server as server.ts builds it, plus what the benchmark compares against and
// measures. It runs in its own process, so that the load generator never shares its event loop.

const config = loadConfig(process.env)
const server = Fastify({ ...serverLogging(config.LOG_LEVEL), trustProxy: config.TRUST_PROXY })
await server.register(fp(app), { config })

// `GET /status` minus `authenticate`: same schema, same serializer, same hooks, same answer.
server.get('/baseline', { schema: { response: { 200: Status } } }, async () => ({ status: 'ok' }))

// What the benchmark reads of this process between runs: CPU time spent (µs), which tells whether
// the server or the load generator was the limit, and memory. maxRSS is the peak since start
// (getrusage), so a short spike between two samples is not missed.
server.get('/bench-process', async () => {
  const { user, system } = process.cpuUsage()
  return { cpu: user + system, rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 }
})

const address = await server.listen({ host: config.HOST, port: config.PORT })
process.stdout.write(`listening on ${address}\n`)

// The benchmark stops the server by closing stdin, which also happens when the benchmark dies.
process.stdin.resume()
process.stdin.on('end', () => {
  server.close().then(() => process.exit(0), () => process.exit(1))
})
