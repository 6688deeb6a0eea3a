import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { SIGNING_ALGORITHMS } from '../tokens/keys.js'
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
  ARGON2_PARALLELISM: integer('lanes, at least 1', { default: OWASP_ARGON2.parallelism, minimum: 1 })
})

export type Config = Static<typeof ConfigSchema> & { ISSUER: string, AUDIENCE: string }

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
    // A URL can hold a password: name the variable, never echo its value.
    const received = /_URL$/.test(name) ? '' : `; received ${JSON.stringify(raw[name])}`
    throw new ConfigError(`Invalid configuration: ${name} must be ${schema?.description ?? error.message}${received}`)
  }
  const valid = config as Static<typeof ConfigSchema>
  const host = valid.HOST.includes(':') ? `[${valid.HOST}]` : valid.HOST
  const issuer = valid.ISSUER ?? `http://${host}:${valid.PORT}`
  return { ...valid, ISSUER: issuer, AUDIENCE: valid.AUDIENCE ?? issuer }
}
