import { readFileSync } from 'node:fs'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { SIGNING_ALGORITHMS } from '../tokens/keys.js'
import { SIGNING_KEY_SECRET_MIN_LENGTH } from '../tokens/key-encryption.js'
import { OWASP_ARGON2 } from '../passwords/hasher.js'

// The standalone server's and the CLI's configuration: the one place that reads the environment.
// Every variable has a description that the start-up error quotes, so a bad value names itself.

const integer = (description: string, options: { default?: number, minimum: number, maximum?: number }) =>
  Type.Integer({ description, ...options })

const ConfigSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'a host name or address' }),
  PORT: integer('an integer from 0 to 65535', { default: 3000, minimum: 0, maximum: 65535 }),
  DATABASE_URL: Type.String({
    default: 'sqlite:./data/auth.db',
    pattern: '^(sqlite:.+|memory:|postgres(ql)?://.+)$',
    description: 'sqlite:<path>, memory: or postgres://...'
  }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+', description: 'a redis:// or rediss:// URL' })),
  ISSUER: Type.Optional(Type.String({ pattern: '^https?://[^\\s"\\\\]+$', description: 'an http:// or https:// URL' })),
  AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'a non-empty string' })),
  ACCESS_TOKEN_TTL: integer('a whole number of seconds, at least 1', { default: 900, minimum: 1 }),
  REFRESH_TOKEN_TTL: integer('a whole number of seconds, at least 1', { default: 1209600, minimum: 1 }),
  REFRESH_FAMILY_LIFETIME: integer('a whole number of seconds, at least 1', { default: 7776000, minimum: 1 }),
  REFRESH_REUSE_GRACE: integer('a whole number of seconds, at least 0', { default: 10, minimum: 0 }),
  // NIST SP 800-63B-4 §3.1.1.2: 15 for single-factor passwords, and never below 8.
  PASSWORD_MIN_LENGTH: integer('an integer from 8 to 1024', { default: 15, minimum: 8, maximum: 1024 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(level => Type.Literal(level)),
    { default: 'info', description: 'one of fatal, error, warn, info, debug, trace, silent' }
  ),
  JWT_ALGORITHM: Type.Union(SIGNING_ALGORITHMS.map(alg => Type.Literal(alg)), {
    default: 'ES256', description: `one of ${SIGNING_ALGORITHMS.join(', ')}`
  }),
  ARGON2_MEMORY_COST: integer('KiB, at least 1024', { default: OWASP_ARGON2.memoryCost, minimum: 1024 }),
  ARGON2_TIME_COST: integer('passes, at least 1', { default: OWASP_ARGON2.timeCost, minimum: 1 }),
  ARGON2_PARALLELISM: integer('lanes, at least 1', { default: OWASP_ARGON2.parallelism, minimum: 1 }),
  REQUEST_TIMEOUT: integer('a whole number of seconds, from 1 to 3600', { default: 30, minimum: 1, maximum: 3600 }),
  SIGNING_KEY_SECRET: Type.Optional(Type.String({
    minLength: SIGNING_KEY_SECRET_MIN_LENGTH,
    description: `at least ${SIGNING_KEY_SECRET_MIN_LENGTH} characters (a random string, e.g. from openssl rand -base64 32)`
  })),
  TLS_CERT: Type.Optional(Type.String({ description: 'the path of a PEM certificate (chain), set together with TLS_KEY' })),
  TLS_KEY: Type.Optional(Type.String({ description: 'the path of a PEM private key, set together with TLS_CERT' })),
  TRUST_PROXY: Type.Optional(Type.String({
    pattern: '^(true|false|[0-9]+|[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*)$',
    description: 'true, false, a number of proxy hops, or comma-separated proxy addresses or CIDR ranges'
  })),
  CORS_ORIGINS: Type.Optional(Type.String({
    pattern: '^https?://[^\\s,/]+(,https?://[^\\s,/]+)*$',
    description: 'comma-separated origins such as https://app.example.com'
  })),
  // Literals, not a Boolean, which Convert would also take from 1, 0 and TRUE.
  DPOP_REQUIRED: Type.Union([Type.Literal('true'), Type.Literal('false')], { default: 'false', description: 'true or false' }),
  REGISTRATION: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'closed', description: 'open or closed' }),
  EMAIL_VERIFICATION: Type.Union([Type.Literal('optional'), Type.Literal('required')], { default: 'optional', description: 'optional or required' }),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://[^\\s]+$', description: 'an smtp:// or smtps:// URL' })),
  MAIL_FROM: Type.Optional(Type.String({ pattern: '^[^\\r\\n]+$', description: 'a sender address on one line, such as "Example <no-reply@example.com>"' })),
  NODE_ENV: Type.Optional(Type.String())
})

export type Config = Omit<Static<typeof ConfigSchema>, 'TRUST_PROXY' | 'CORS_ORIGINS' | 'DPOP_REQUIRED'> & {
  ISSUER: string
  AUDIENCE: string
  /** Fastify's `trustProxy`: whose X-Forwarded-For to believe for the client address the limits count. */
  TRUST_PROXY: boolean | string[] | ((address: string, hop: number) => boolean)
  /** Origins allowed to call the API from a browser; empty means CORS is off. */
  CORS_ORIGINS: string[]
  /** The certificate and key, read at start-up, when TLS is served directly. */
  TLS: { cert: Buffer, key: Buffer } | null
  /** Whether protected routes refuse bearer tokens, taking DPoP-bound ones only. */
  DPOP_REQUIRED: boolean
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/

function trustProxy (value: string | undefined): Config['TRUST_PROXY'] {
  if (value === undefined || value === 'false') return false
  if (value === 'true') return true
  if (/^[0-9]+$/.test(value)) {
    // A hop count: believe that many proxies nearest to the server, no further.
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value.split(',')
}

function readTls (cert: string | undefined, key: string | undefined): { cert: Buffer, key: Buffer } | null {
  if (cert === undefined && key === undefined) return null
  if (cert === undefined || key === undefined) {
    throw new ConfigError(`Invalid configuration: ${cert === undefined ? 'TLS_CERT' : 'TLS_KEY'} must be set together with ${cert === undefined ? 'TLS_KEY' : 'TLS_CERT'}`)
  }
  const read = (name: string, path: string): Buffer => {
    try {
      return readFileSync(path)
    } catch (error) {
      throw new ConfigError(`Invalid configuration: ${name} must be a readable file; ${(error as Error).message}`)
    }
  }
  return { cert: read('TLS_CERT', cert), key: read('TLS_KEY', key) }
}

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** Reads, defaults and validates the variables; throws a ConfigError naming the first bad one. */
export function loadConfig (env: Record<string, string | undefined>): Config {
  const raw: Record<string, string> = {}
  for (const name of Object.keys(ConfigSchema.properties)) {
    const value = env[name]
    // An empty variable is an unset one, as shells and .env files often leave them.
    if (value !== undefined && value !== '') raw[name] = value
  }
  // Value.Default fills in and Value.Convert may convert in place: on a copy, so `raw` keeps what was received.
  const config = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, { ...raw })) as Record<string, unknown>
  for (const [name, value] of Object.entries(raw)) {
    // Convert truncates "80.5" and "1e3" to integers: only digits are an integer here, anything else is refused.
    const schema = ConfigSchema.properties[name as keyof typeof ConfigSchema.properties] as TSchema
    if (schema.type === 'integer' && !/^[0-9]+$/.test(value)) config[name] = value
  }
  const error = Value.Errors(ConfigSchema, config).First()
  if (error !== undefined) {
    const name = error.path.slice(1)
    const schema = ConfigSchema.properties[name as keyof typeof ConfigSchema.properties] as TSchema | undefined
    // A URL can hold a password, and a secret is one: name the variable, never echo its value.
    const received = /_URL$|_SECRET$/.test(name) ? '' : `; received ${JSON.stringify(raw[name])}`
    throw new ConfigError(`Invalid configuration: ${name} must be ${schema?.description ?? error.message}${received}`)
  }
  const valid = config as Static<typeof ConfigSchema>
  if (valid.EMAIL_VERIFICATION === 'required' && valid.SMTP_URL === undefined) {
    throw new ConfigError('Invalid configuration: EMAIL_VERIFICATION=required needs SMTP_URL: the codes that verify addresses go out by e-mail')
  }
  if ((valid.SMTP_URL === undefined) !== (valid.MAIL_FROM === undefined)) {
    throw new ConfigError(`Invalid configuration: ${valid.SMTP_URL === undefined ? 'SMTP_URL' : 'MAIL_FROM'} must be set together with ${valid.SMTP_URL === undefined ? 'MAIL_FROM' : 'SMTP_URL'}`)
  }
  const tls = readTls(valid.TLS_CERT, valid.TLS_KEY)
  const host = valid.HOST.includes(':') ? `[${valid.HOST}]` : valid.HOST
  const issuer = valid.ISSUER ?? `${tls === null ? 'http' : 'https'}://${host}:${valid.PORT}`
  const issuerHost = new URL(issuer).hostname
  if (valid.NODE_ENV === 'production' && issuer.startsWith('http://') && !LOOPBACK.test(issuerHost)) {
    // Tokens and passwords would cross the network in clear, and the issuer is in every token.
    throw new ConfigError(`Invalid configuration: ISSUER must be https:// in production (NODE_ENV=production) unless its host is loopback; received ${JSON.stringify(issuer)}. Serve TLS with TLS_CERT and TLS_KEY, or set ISSUER to the https:// address of the proxy in front`)
  }
  return {
    ...valid,
    ISSUER: issuer,
    AUDIENCE: valid.AUDIENCE ?? issuer,
    TRUST_PROXY: trustProxy(valid.TRUST_PROXY),
    CORS_ORIGINS: valid.CORS_ORIGINS?.split(',') ?? [],
    TLS: tls,
    DPOP_REQUIRED: valid.DPOP_REQUIRED === 'true'
  }
}
