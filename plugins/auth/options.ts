import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { Store } from '../../store/index.js'
import { STORE_METHODS } from '../../store/methods.js'
import type { MailTemplates } from '../../accounts/mailer.js'
import type { RedisClient } from '../../limits/redis.js'
import { SIGNING_ALGORITHMS } from '../../tokens/keys.js'
import { SIGNING_KEY_SECRET_MIN_LENGTH } from '../../tokens/key-encryption.js'
import { isScopeToken } from '../../tokens/scopes.js'

// The auth plugin's options: one TypeBox schema both types and validates them, and a wrong one
// fails the app's ready() with a message that names it.

const positiveInteger = (description: string) => Type.Optional(Type.Integer({ minimum: 1, description }))

export const OptionsSchema = Type.Object({
  store: Type.Union([Type.String({ minLength: 1 }), Type.Object({})], { description: 'a store URL or a Store' }),
  issuer: Type.String({ pattern: '^https?://[^\\s"\\\\]+$', description: 'an http(s) URL' }),
  scopes: Type.Record(Type.String(), Type.String(), { description: 'scope name to description' }),
  audience: Type.Optional(Type.String({ minLength: 1 })),
  realm: Type.Optional(Type.String({ pattern: '^[^"\\\\]+$', description: 'text without quotes or backslashes' })),
  prefix: Type.Optional(Type.String({ pattern: '^(/[^/\\s]+)*$', description: 'a path like /auth' })),
  accessTokenTtl: positiveInteger('seconds'),
  refreshTokenTtl: positiveInteger('seconds a refresh token lives unused'),
  refreshFamilyLifetime: positiveInteger('seconds a login can be refreshed for, in all'),
  refreshReuseGrace: Type.Optional(Type.Integer({ minimum: 0, description: 'seconds' })),
  algorithm: Type.Optional(Type.Union(SIGNING_ALGORITHMS.map(alg => Type.Literal(alg)))),
  signingKeySecret: Type.Optional(Type.String({
    minLength: SIGNING_KEY_SECRET_MIN_LENGTH,
    description: `a string of at least ${SIGNING_KEY_SECRET_MIN_LENGTH} characters`
  })),
  argon2: Type.Optional(Type.Object({
    memoryCost: Type.Optional(Type.Integer({ minimum: 1024 })),
    timeCost: positiveInteger('passes'),
    parallelism: positiveInteger('lanes')
  }, { additionalProperties: false })),
  redis: Type.Optional(Type.Union([Type.String({ pattern: '^rediss?://' }), Type.Object({})], { description: 'a redis:// URL or an ioredis client' })),
  passwordMinLength: Type.Optional(Type.Integer({ minimum: 8, maximum: 1024, description: 'an integer from 8 to 1024' })),
  loginLimits: Type.Optional(Type.Object({
    pair: positiveInteger('failures in a row for one username from one address'),
    address: positiveInteger('failures from one address'),
    username: positiveInteger('failures for one username'),
    window: positiveInteger('seconds'),
    trust: positiveInteger('seconds')
  }, { additionalProperties: false })),
  hashing: Type.Optional(Type.Object({
    concurrency: positiveInteger('hashes at once'),
    queueLimit: Type.Optional(Type.Integer({ minimum: 0 }))
  }, { additionalProperties: false })),
  dpopRequired: Type.Optional(Type.Boolean({ description: 'true or false: whether protected routes refuse bearer tokens, taking DPoP-bound ones only' })),
  registration: Type.Optional(Type.Object({
    scopes: Type.Optional(Type.Array(Type.String(), { description: 'the scopes a registered user may be granted' }))
  }, { additionalProperties: false, description: 'an object: its presence opens POST /register' })),
  emailVerification: Type.Optional(Type.Union([Type.Literal('optional'), Type.Literal('required')], { description: '"optional" or "required"' })),
  mail: Type.Optional(Type.Object({
    url: Type.String({ pattern: '^smtps?://[^\\s]+$', description: 'an smtp:// or smtps:// URL' }),
    from: Type.String({ minLength: 1, pattern: '^[^\\r\\n]+$', description: 'a sender address on one line' }),
    templates: Type.Optional(Type.Object({
      verifyEmail: Type.Optional(Type.Unknown()),
      resetPassword: Type.Optional(Type.Unknown())
    }, { additionalProperties: false }))
  }, { additionalProperties: false })),
  accountLimits: Type.Optional(Type.Object({
    register: positiveInteger('registrations from one address'),
    mail: positiveInteger('requests for a code from one address'),
    mailsPerUser: positiveInteger('codes mailed to one account'),
    window: positiveInteger('seconds')
  }, { additionalProperties: false })),
  // Fastify's own registration options.
  logLevel: Type.Optional(Type.String()),
  logSerializers: Type.Optional(Type.Unknown())
}, { additionalProperties: false })

export type OAuth2PasswordOptions = Omit<Static<typeof OptionsSchema>, 'store' | 'redis' | 'mail' | 'logLevel' | 'logSerializers'> & {
  /** A store URL (`sqlite:<path>`, `postgres://…`, `memory:`) that the plugin opens and closes, or a store you own. */
  store: string | Store
  /**
   * Where failed logins are counted when several instances share them: a `redis://` URL the plugin
   * connects to (ioredis) and disconnects from, or your own ioredis client, which it leaves open.
   */
  redis?: string | RedisClient
  /**
   * Where the account e-mails (verification and reset codes) go out: an SMTP server's `smtp://` or
   * `smtps://` URL, the sender, and templates that replace the built-in ones. Without it, the
   * endpoints that send or take a code are not registered.
   */
  mail?: { url: string, from: string, templates?: Partial<MailTemplates> }
}

/** What a store URL or a secret was, never what it says: a URL may hold a password. */
function describeHidden (value: unknown): string {
  return typeof value === 'string' ? `a string of ${value.length} characters` : typeof value
}

// As the store's methods (STORE_METHODS), for a host's Redis client: what the counter calls on it.
const REDIS_METHODS = Object.keys({ pipeline: true, eval: true, del: true, ping: true } satisfies Record<Exclude<keyof RedisClient, 'status'>, true>)

/** Fails with a message that names the first wrong option and what it got, never echoing a store URL or a secret. */
export function validateOptions (options: OAuth2PasswordOptions): void {
  const error = Value.Errors(OptionsSchema, options).First()
  if (error !== undefined) {
    const name = error.path.slice(1).replaceAll('/', '.') || 'options'
    // Any name with "secret" in it, so that a misspelt signingKeySecret is not echoed either.
    const received = name === 'store' || name === 'mail.url' || /secret/i.test(name) ? describeHidden(error.value) : JSON.stringify(error.value)
    const expected = (error.schema as TSchema).description ?? error.message
    throw new Error(`oauth2-password: option "${name}" must be ${expected}; received ${received}`)
  }
  for (const scope of Object.keys(options.scopes)) {
    if (!isScopeToken(scope)) throw new Error(`oauth2-password: option "scopes" has a name that is not an RFC 6749 scope token: ${JSON.stringify(scope)}`)
  }
  if (typeof options.store === 'object') {
    const store = options.store as unknown as Record<string, unknown>
    const missing = STORE_METHODS.filter(method => typeof store[method] !== 'function')
    if (missing.length > 0) throw new Error(`oauth2-password: option "store" lacks the Store methods ${missing.join(', ')}`)
  }
  for (const [name, template] of Object.entries(options.mail?.templates ?? {})) {
    if (typeof template !== 'function') throw new Error(`oauth2-password: option "mail.templates.${name}" must be a function; received ${typeof template}`)
  }
  if (options.emailVerification === 'required' && options.mail === undefined) {
    throw new Error('oauth2-password: option "emailVerification" is "required", which needs option "mail": the codes that verify addresses go out by e-mail')
  }
  if (typeof options.redis === 'object') {
    const redis = options.redis as unknown as Record<string, unknown>
    const missing = REDIS_METHODS.filter(method => typeof redis[method] !== 'function')
    if (missing.length > 0) throw new Error(`oauth2-password: option "redis" lacks the Redis client methods ${missing.join(', ')}`)
  }
}
