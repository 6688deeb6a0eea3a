import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
// Kept in the .d.ts, unlike the import above: it brings @fastify/jwt's declaration of
// `request.user`, which the FastifyJWT augmentation below fills in, into a host's program.
import '@fastify/jwt'
// For its FastifySchema fields (`security`), which the onRoute hook below fills in; a type-only
// import, so that neither the JavaScript nor the .d.ts needs @fastify/swagger.
import type {} from '@fastify/swagger'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { openStore, type SigningAlgorithm, type Store, type User } from '../store/index.js'
import { UserAdmin, DEFAULT_PASSWORD_MIN_LENGTH, type Users } from '../users/users.js'
import { ExpiringCache } from '../tokens/cache.js'
import { PasswordHasher } from '../passwords/hasher.js'
import {
  AccessTokenIssuer, AccessTokenVerifier, hasAccessTokenClaims, verificationKey, verificationRules, type AccessTokenClaims
} from '../tokens/access.js'
import { KeyRing, SIGNING_ALGORITHMS, generateSigningKey, liveKeys } from '../tokens/keys.js'
import { isScopeToken } from '../tokens/scopes.js'
import {
  InsufficientScopeError, InvalidTokenError, authorizationHeader, bearerToken, challenge, type BearerError
} from '../tokens/bearer.js'
import { MemoryCounter, type Counter } from '../limits/counter.js'
import { RedisCounter, type RedisClient } from '../limits/redis.js'
import { DEFAULT_LOGIN_LIMITS, LoginLimiter } from '../limits/login.js'
import { BearerErrorResponse, BearerErrorResponses, SECURITY_SCHEME } from '../schemas/bearer.js'
import endpoints from './auth/endpoints.js'

export type { Store } from '../store/index.js'
export type { AccessTokenClaims } from '../tokens/access.js'
export type { RedisClient } from '../limits/redis.js'
export { SECURITY_SCHEME }

/** Who `request.user` is on a route that ran `authenticate`. */
export interface AuthUser {
  /** The user's immutable id, the token's `sub`. */
  id: string
  username: string
  email: string | null
  fullName: string | null
  /** The scopes granted to this token (not every scope the user may have). */
  scopes: string[]
  clientId: string
  /** The token's `jti`. */
  tokenId: string
  /** When the token expires, in epoch seconds. */
  expiresAt: number
}

/** The type of `fastify.authenticate`. Named outside the augmentation below, so that the .d.ts imports the Fastify types it names. */
export type Authenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: refuses the request unless it carries a live access token with every scope in `config.scopes`. */
    authenticate: Authenticate
    /** The store the plugin keeps users, keys and tokens in. */
    authStore: Store
    /**
     * The users API on the plugin's store, with its argon2 parameters and `passwordMinLength`:
     * `auth` like `authStore`, so that it never collides with a host's own `users`.
     */
    authUsers: Users
  }
  interface FastifyContextConfig {
    /** Scopes an access token needs for this route, checked by `authenticate`. */
    scopes?: string[]
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenClaims
    user: AuthUser
  }
}

const positiveInteger = (description: string) => Type.Optional(Type.Integer({ minimum: 1, description }))

const OptionsSchema = Type.Object({
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
  // Fastify's own registration options.
  logLevel: Type.Optional(Type.String()),
  logSerializers: Type.Optional(Type.Unknown())
}, { additionalProperties: false })

export type OAuth2PasswordOptions = Omit<Static<typeof OptionsSchema>, 'store' | 'redis' | 'logLevel' | 'logSerializers'> & {
  /** A store URL (`sqlite:<path>`, `postgres://…`, `memory:`) that the plugin opens and closes, or a store you own. */
  store: string | Store
  /**
   * Where failed logins are counted when several instances share them: a `redis://` URL the plugin
   * connects to (ioredis) and disconnects from, or your own ioredis client, which it leaves open.
   */
  redis?: string | RedisClient
}

// A Record so that the compiler fails here when the Store interface gains a method.
const STORE_METHODS = Object.keys({
  createUser: true,
  findUserByUsername: true,
  findUserById: true,
  updateUser: true,
  removeUser: true,
  listUsers: true,
  countUsers: true,
  listSigningKeys: true,
  addFirstSigningKey: true,
  addSigningKey: true,
  removeSigningKeys: true,
  createRefreshFamily: true,
  rotateRefreshToken: true,
  findRefreshToken: true,
  revokeRefreshFamily: true,
  revokeAccessToken: true,
  isAccessTokenRevoked: true,
  prune: true,
  createClient: true,
  findClient: true,
  removeClient: true,
  listClients: true,
  ping: true,
  close: true
} satisfies Record<keyof Store, true>)

// As STORE_METHODS, for a host's Redis client.
const REDIS_METHODS = Object.keys({ pipeline: true, del: true } satisfies Record<keyof RedisClient, true>)

/** Fails with a message that names the first wrong option and what it got, never echoing a store URL. */
function validateOptions (options: OAuth2PasswordOptions): void {
  const error = Value.Errors(OptionsSchema, options).First()
  if (error !== undefined) {
    const name = error.path.slice(1).replaceAll('/', '.') || 'options'
    const received = name === 'store' ? typeof error.value : JSON.stringify(error.value)
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
  if (typeof options.redis === 'object') {
    const redis = options.redis as unknown as Record<string, unknown>
    const missing = REDIS_METHODS.filter(method => typeof redis[method] !== 'function')
    if (missing.length > 0) throw new Error(`oauth2-password: option "redis" lacks the Redis client methods ${missing.join(', ')}`)
  }
}

/** How often the plugin re-reads the signing keys, so that `keys rotate` reaches it within five seconds (SPEC §9). */
const KEY_REFRESH_INTERVAL = 2000
/**
 * How long `authenticate` trusts what it read of a user or a revocation: a disabled user, a new
 * password or a revocation made anywhere is refused within it (SPEC §9 asks for one second).
 */
const STATE_CACHE_TTL = 500
/**
 * How long a verified token's claims are reused without verifying it again: never past its `exp`,
 * and briefly enough that a removed signing key stops it soon. @fastify/jwt's own cache sits behind
 * a full decode and a SHA-256 of the token on every request; this one is a map lookup.
 */
const VERIFIED_CACHE_TTL = 5000
/** How often expired revocations and refresh tokens are deleted. */
const PRUNE_INTERVAL = 60_000

/** Loads the signing keys, creating the first one when the store has none. */
async function loadKeys (store: Store, algorithm: SigningAlgorithm, accessTokenTtl: number): Promise<KeyRing> {
  let keys = await store.listSigningKeys()
  if (keys.length === 0) keys = await store.addFirstSigningKey(generateSigningKey(algorithm))
  return new KeyRing(liveKeys(keys, Date.now(), accessTokenTtl))
}

const TOKEN_PROBLEMS: Record<string, string> = {
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: 'The access token expired',
  FAST_JWT_INACTIVE: 'The access token is not valid yet',
  FAST_JWT_INVALID_TYPE: 'The token is not an access token',
  FAST_JWT_INVALID_CLAIM_VALUE: 'The access token is for another issuer or audience',
  FAST_JWT_INVALID_ALGORITHM: 'The access token is signed with an algorithm this server does not use'
}

function isBearerError (error: unknown): error is BearerError {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('OAUTH2_')
}

/** Anything that went wrong while verifying the JWT itself is an invalid token, never a 500. */
function asBearerError (error: unknown): BearerError {
  if (isBearerError(error)) return error
  const code = error instanceof Error && 'code' in error ? String(error.code) : ''
  return new InvalidTokenError(TOKEN_PROBLEMS[code] ?? 'The access token is invalid')
}

/** Where failed logins are counted: through Redis, shared by every instance, when `redis` is set; in memory otherwise. */
async function failedLoginCounter (redis: OAuth2PasswordOptions['redis'], onError: (error: Error) => void): Promise<Counter> {
  if (redis === undefined) return new MemoryCounter()
  if (typeof redis === 'string') return await RedisCounter.connect(redis, onError, { what: 'oauth2-password: option "redis" names a Redis server' })
  return new RedisCounter(redis)
}

async function oauth2Password (fastify: FastifyInstance, options: OAuth2PasswordOptions): Promise<void> {
  validateOptions(options)
  const issuer = options.issuer
  const audience = options.audience ?? issuer
  const realm = options.realm ?? issuer
  const algorithm = options.algorithm ?? 'ES256'
  const lifetimes = {
    accessToken: options.accessTokenTtl ?? 900,
    refreshToken: options.refreshTokenTtl ?? 1_209_600,
    refreshFamily: options.refreshFamilyLifetime ?? 7_776_000,
    reuseGrace: options.refreshReuseGrace ?? 10
  }

  const store = typeof options.store === 'string' ? await openStore(options.store, { name: 'oauth2-password: option "store"' }) : options.store
  let keys = await loadKeys(store, algorithm, lifetimes.accessToken)
  const background = [
    setInterval(() => {
      store.listSigningKeys()
        .then(all => { keys = new KeyRing(liveKeys(all, Date.now(), lifetimes.accessToken)) })
        .catch((error: unknown) => fastify.log.error({ err: error }, 'reloading signing keys failed'))
    }, KEY_REFRESH_INTERVAL),
    setInterval(() => {
      store.prune(Date.now()).catch((error: unknown) => fastify.log.error({ err: error }, 'pruning the store failed'))
    }, PRUNE_INTERVAL)
  ]
  // The timers never keep a process alive on their own.
  for (const timer of background) timer.unref()
  fastify.addHook('onClose', async () => {
    for (const timer of background) clearInterval(timer)
    // Only a store the plugin opened is the plugin's to close.
    if (typeof options.store === 'string') await store.close()
  })

  // Through Redis the failed-login counts are shared by every instance; in memory, by this one only.
  const counter: Counter = await failedLoginCounter(options.redis, error => fastify.log.warn({ err: error }, 'redis connection failed'))
  fastify.addHook('onClose', async () => await counter.close())
  const limiter = new LoginLimiter(counter, { ...DEFAULT_LOGIN_LIMITS, ...options.loginLimits })

  const hasher = new PasswordHasher({ argon2: options.argon2, ...options.hashing })
  // Made now, so that the first unknown username costs no more than a wrong password.
  await hasher.dummyHash()
  const accessTokens = new AccessTokenIssuer({ issuer, audience, ttl: lifetimes.accessToken, keys: () => keys })
  const verifier = new AccessTokenVerifier({ issuer, audience, keys: () => keys })
  const users = new ExpiringCache<string, User | null>(STATE_CACHE_TTL)
  const revocations = new ExpiringCache<string, boolean>(STATE_CACHE_TTL)
  const verified = new ExpiringCache<string, { claims: AccessTokenClaims, scopes: readonly string[] }>(VERIFIED_CACHE_TTL)

  await fastify.register(fastifyJwt, {
    // Verify-only: tokens are signed by AccessTokenIssuer, which picks the current key.
    secret: {
      public: async (_request: FastifyRequest, token: unknown) => {
        // Each key verifies only the one algorithm it was made for: no algorithm confusion.
        const key = verificationKey(keys, (token as { header: { kid?: unknown, alg?: unknown } }).header)
        if (key === undefined) throw new InvalidTokenError('The access token is signed by an unknown key')
        return key.publicKey
      }
    },
    decode: { complete: true },
    verify: {
      ...verificationRules(issuer, audience),
      cache: true,
      extractToken: (request: FastifyRequest) => bearerToken(authorizationHeader(request.raw.rawHeaders))
    }
  })

  fastify.decorate('authStore', store)
  fastify.decorate('authUsers', new UserAdmin(store, hasher, options.passwordMinLength ?? DEFAULT_PASSWORD_MIN_LENGTH))
  /** The work of `authenticate`, for a route that needs the scopes `required`. */
  async function authenticateFor (request: FastifyRequest, reply: FastifyReply, required: readonly string[]): Promise<void> {
    // What a bearer token unlocks, and every refusal of one, is for this request only (RFC 6750 §5.3 advice).
    reply.header('cache-control', 'no-store')
    try {
      const now = Date.now()
      // Keyed by the whole header: a header that was read and verified once is not parsed again.
      const authorization = authorizationHeader(request.raw.rawHeaders)
      let entry = verified.get(authorization, now)?.value
      if (entry === undefined) {
        let claims: AccessTokenClaims
        try {
          // Its extractToken reads the token, and refuses a header that holds none, as bearerToken does.
          claims = await request.jwtVerify<AccessTokenClaims>()
        } catch (error) {
          throw asBearerError(error)
        }
        if (!hasAccessTokenClaims(claims)) throw new InvalidTokenError('The access token lacks a claim this server needs')
        entry = { claims, scopes: claims.scope === '' ? [] : claims.scope.split(' ') }
        verified.set(authorization, entry, claims.exp * 1000, now)
      }
      const { claims, scopes } = entry
      let revoked = revocations.get(claims.jti, now)?.value
      if (revoked === undefined) {
        revoked = await store.isAccessTokenRevoked(claims.jti)
        revocations.set(claims.jti, revoked)
      }
      if (revoked) throw new InvalidTokenError('The access token was revoked')
      let user = users.get(claims.sub, now)?.value
      if (user === undefined) {
        user = await store.findUserById(claims.sub)
        users.set(claims.sub, user)
      }
      if (user === null) throw new InvalidTokenError('The user no longer exists')
      if (user.disabled) throw new InvalidTokenError('The user is disabled')
      if (user.tokenVersion !== claims.ver) throw new InvalidTokenError('The token predates a change of password')
      for (const scope of required) {
        if (!scopes.includes(scope)) throw new InsufficientScopeError()
      }
      request.user = {
        id: user.id,
        username: user.username,
        email: user.email,
        fullName: user.fullName,
        scopes: [...scopes],
        clientId: claims.client_id,
        tokenId: claims.jti,
        expiresAt: claims.exp
      }
    } catch (error) {
      if (isBearerError(error)) {
        reply.header('www-authenticate', challenge(realm, error, required))
      }
      throw error
    }
  }

  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    await authenticateFor(request, reply, request.routeOptions.config.scopes ?? [])
  })

  // A route protected by `authenticate` documents its own security requirement, from its own
  // config, and the refusals `authenticate` answers with (unless the route documents its own), so
  // the OpenAPI document and the code cannot disagree.
  fastify.addSchema(BearerErrorResponse)
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const preHandlers = [route.preHandler ?? []].flat()
    if (!preHandlers.includes(fastify.authenticate)) return
    // The route's scopes are known now: bound here, they are not looked up on every request.
    const required = route.config?.scopes ?? []
    route.preHandler = preHandlers.map(handler => handler === fastify.authenticate
      ? async (request: FastifyRequest, reply: FastifyReply) => await authenticateFor(request, reply, required)
      : handler)
    route.schema = {
      ...route.schema,
      security: [{ [SECURITY_SCHEME]: route.config?.scopes ?? [] }],
      response: { ...BearerErrorResponses, ...route.schema?.response as object | undefined }
    }
  })

  await fastify.register(endpoints, {
    prefix: options.prefix ?? '',
    store,
    hasher,
    accessTokens,
    verifier,
    revocations,
    limiter,
    keys: () => keys,
    scopes: options.scopes,
    issuer,
    lifetimes
  })
}

export default fp(oauth2Password, { name: 'oauth2-password', fastify: '5.x' })
export { oauth2Password }
