import t from 'tap'
import { ConfigError, loadConfig } from '../config/index.js'

t.test('defaults', async t => {
  const config = loadConfig({})
  t.match(config, {
    HOST: '127.0.0.1',
    PORT: 3000,
    DATABASE_URL: 'sqlite:./data/auth.db',
    ISSUER: 'http://127.0.0.1:3000',
    AUDIENCE: 'http://127.0.0.1:3000',
    ACCESS_TOKEN_TTL: 900,
    REFRESH_TOKEN_TTL: 1209600,
    REFRESH_REUSE_GRACE: 10,
    PASSWORD_MIN_LENGTH: 15,
    LOG_LEVEL: 'info',
    JWT_ALGORITHM: 'ES256'
  })
  t.equal(config.REDIS_URL, undefined, 'no Redis unless asked')
  t.equal(config.SIGNING_KEY_SECRET, undefined, 'signing keys are not encrypted unless asked')
  t.equal(loadConfig({ SIGNING_KEY_SECRET: 'x'.repeat(32) }).SIGNING_KEY_SECRET, 'x'.repeat(32))
})

t.test('the issuer follows HOST and PORT, the audience follows the issuer', async t => {
  t.match(loadConfig({ HOST: '0.0.0.0', PORT: '8080' }), { ISSUER: 'http://0.0.0.0:8080', AUDIENCE: 'http://0.0.0.0:8080' })
  t.match(loadConfig({ HOST: '::1' }), { ISSUER: 'http://[::1]:3000' })
  t.match(loadConfig({ ISSUER: 'https://auth.example.com' }), { ISSUER: 'https://auth.example.com', AUDIENCE: 'https://auth.example.com' })
  t.match(loadConfig({ ISSUER: 'https://auth.example.com', AUDIENCE: 'orders-api' }), { AUDIENCE: 'orders-api' })
})

t.test('values are converted and an empty variable is an unset one', async t => {
  t.match(loadConfig({ PORT: '0', PASSWORD_MIN_LENGTH: '8', ACCESS_TOKEN_TTL: '60', LOG_LEVEL: 'debug', JWT_ALGORITHM: 'EdDSA' }), {
    PORT: 0, PASSWORD_MIN_LENGTH: 8, ACCESS_TOKEN_TTL: 60, LOG_LEVEL: 'debug', JWT_ALGORITHM: 'EdDSA'
  })
  t.match(loadConfig({ PORT: '', ISSUER: '', DATABASE_URL: '' }), { PORT: 3000, ISSUER: 'http://127.0.0.1:3000', DATABASE_URL: 'sqlite:./data/auth.db' })
  t.match(loadConfig({ DATABASE_URL: 'memory:' }), { DATABASE_URL: 'memory:' })
  t.match(loadConfig({ DATABASE_URL: 'postgres://u:p@h/db' }), { DATABASE_URL: 'postgres://u:p@h/db' })
})

t.test('bad values stop with a message naming the variable', async t => {
  const cases: Array<{ env: Record<string, string>, message: string }> = [
    { env: { PORT: 'abc' }, message: 'Invalid configuration: PORT must be an integer from 0 to 65535; received "abc"' },
    { env: { PORT: '65536' }, message: 'Invalid configuration: PORT must be an integer from 0 to 65535; received "65536"' },
    { env: { PORT: '80.5' }, message: 'Invalid configuration: PORT must be an integer from 0 to 65535; received "80.5"' },
    { env: { PORT: '1e3' }, message: 'Invalid configuration: PORT must be an integer from 0 to 65535; received "1e3"' },
    { env: { PORT: '0x50' }, message: 'Invalid configuration: PORT must be an integer from 0 to 65535; received "0x50"' },
    { env: { PORT: '-1' }, message: 'Invalid configuration: PORT must be an integer from 0 to 65535; received "-1"' },
    { env: { ACCESS_TOKEN_TTL: '900 ' }, message: 'Invalid configuration: ACCESS_TOKEN_TTL must be a whole number of seconds, at least 1; received "900 "' },
    { env: { PASSWORD_MIN_LENGTH: '7' }, message: 'Invalid configuration: PASSWORD_MIN_LENGTH must be an integer from 8 to 1024; received "7"' },
    {
      env: { LOG_LEVEL: 'loud' },
      message: 'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; received "loud"'
    },
    { env: { JWT_ALGORITHM: 'HS256' }, message: 'Invalid configuration: JWT_ALGORITHM must be one of ES256, EdDSA, RS256; received "HS256"' },
    { env: { ACCESS_TOKEN_TTL: '0' }, message: 'Invalid configuration: ACCESS_TOKEN_TTL must be a whole number of seconds, at least 1; received "0"' },
    { env: { ISSUER: 'auth.example.com' }, message: 'Invalid configuration: ISSUER must be an http:// or https:// URL; received "auth.example.com"' },
    { env: { DATABASE_URL: 'mysql://u:secret@h/db' }, message: 'Invalid configuration: DATABASE_URL must be sqlite:<path>, memory: or postgres://...' },
    { env: { REDIS_URL: 'http://u:secret@h:6379' }, message: 'Invalid configuration: REDIS_URL must be a redis:// or rediss:// URL' },
    {
      env: { SIGNING_KEY_SECRET: 'secret'.repeat(5) },
      message: 'Invalid configuration: SIGNING_KEY_SECRET must be at least 32 characters (a random string, e.g. from openssl rand -base64 32)'
    }
  ]
  for (const { env, message } of cases) {
    t.test(JSON.stringify(env), async t => {
      t.throws(() => loadConfig(env), new ConfigError(message))
      try {
        loadConfig(env)
      } catch (error) {
        t.type(error, ConfigError)
        t.equal((error as Error).message, message)
        t.notMatch((error as Error).message, /secret/, 'a URL\'s password is never echoed')
      }
    })
  }
})

t.test('REQUEST_TIMEOUT: 30 seconds by default, whole seconds from 1 to 3600', async t => {
  t.equal(loadConfig({}).REQUEST_TIMEOUT, 30)
  t.equal(loadConfig({ REQUEST_TIMEOUT: '5' }).REQUEST_TIMEOUT, 5)
  for (const value of ['0', '3601', '1.5', 'soon']) {
    t.throws(() => loadConfig({ REQUEST_TIMEOUT: value }), {
      message: `Invalid configuration: REQUEST_TIMEOUT must be a whole number of seconds, from 1 to 3600; received ${JSON.stringify(value)}`
    }, value)
  }
})
