import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import app from './app.js'
import { ConfigError, loadConfig, type Config } from './config/index.js'

/**
 * What the logger never prints: credentials in headers and in parsed bodies, wherever a
 * serializer or a log call puts them.
 */
export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.password',
  '*.refresh_token',
  '*.client_secret',
  '*.access_token',
  'body.password',
  'body.refresh_token',
  'body.client_secret'
]

export function serverOptions (config: Config) {
  return {
    logger: { level: config.LOG_LEVEL, redact: { paths: REDACT, censor: '[redacted]' } }
  }
}

async function start (): Promise<void> {
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
  const server = Fastify(serverOptions(config))
  await server.register(app, { config })
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) server.log.error({ err }, 'server closing after an error')
    else server.log.info({ signal }, 'server closing')
    await server.close()
  })
  await server.listen({ host: config.HOST, port: config.PORT })
}

await start()
