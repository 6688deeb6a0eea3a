import './runtime/tick-objects.js'
import Fastify, { type FastifyInstance } from 'fastify'
import closeWithGrace from 'close-with-grace'
import fp from 'fastify-plugin'
import app from './app.js'
import { ConfigError, loadConfig, type Config } from './config/index.js'
import { serverLogging } from './config/logger.js'
import { KeyEncryptionError } from './tokens/key-encryption.js'

async function start (): Promise<void> {
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
  // A request whose headers and body have not all arrived within REQUEST_TIMEOUT is answered 408 and
  // its connection closed: without it, a client sending a byte a minute holds a connection forever.
  // Node looks for such requests every connectionsCheckingInterval, so they go at most a second late.
  const requestTimeout = config.REQUEST_TIMEOUT * 1000
  const timeouts = { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: 1000 }
  // A request that arrives while the server closes is refused by plugins/draining.ts, with Retry-After.
  const options = { ...serverLogging(config.LOG_LEVEL), trustProxy: config.TRUST_PROXY, return503OnClosing: false, requestTimeout }
  // Over TLS only the raw server's type differs; the app registered on it is the same.
  const server = config.TLS === null
    ? Fastify({ ...options, http: timeouts })
    : Fastify({ ...options, https: { ...config.TLS, ...timeouts } }) as unknown as FastifyInstance
  try {
    // fastify-plugin exposes the app's decorators (authStore, config) on the root instance.
    await server.register(fp(app), { config })
  } catch (error) {
    // Keys the secret cannot decrypt are a configuration mistake: said in one line, as a bad variable is.
    if (!(error instanceof KeyEncryptionError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
  // Its own lines (a close that timed out, a second signal) go through the server's logger, as JSON.
  closeWithGrace({ delay: 10_000, logger: server.log }, async ({ signal, err }) => {
    if (err !== undefined) server.log.error({ err }, 'server closing after an error')
    else server.log.info({ signal }, 'server closing')
    await server.close()
  })
  await server.listen({ host: config.HOST, port: config.PORT })
}

await start()
