import fp from 'fastify-plugin'
// Kept in the .d.ts: it brings @fastify/jwt's declaration of
// `request.user`, which the FastifyJWT augmentation below fills in, into a host's program.
import '@fastify/jwt'
// For its FastifySchema fields (`security`), which the onRoute hook below fills in; a type-only
// import, so that neither the JavaScript nor the .d.ts needs @fastify/swagger.
import type {} from '@fastify/swagger'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { MemoryStore, guardStore, openStore, type Store } from '../store/index.js'
import { UserAdmin, DEFAULT_PASSWORD_MIN_LENGTH, type Users } from '../users/users.js'
import { SecondFactor } from '../users/second-factor.js'
import { REVOCATION_OVERLAP, RevocationList } from '../tokens/revocations.js'
import { UserCache } from '../tokens/user-cache.js'
import { PasswordHasher } from '../passwords/hasher.js'
import { AccessTokenIssuer, AccessTokenVerifier, verificationRules } from '../tokens/access.js'
import type { KeyRing } from '../tokens/keys.js'
import { KeyEncryption } from '../tokens/key-encryption.js'
import { RedisProofReplayGuard, StoreProofReplayGuard } from '../tokens/dpop-replay.js'
import { MemoryCounter, type Counter } from '../limits/counter.js'
import { RedisCounter } from '../limits/redis.js'
import { DEFAULT_LOGIN_LIMITS, LoginLimiter } from '../limits/login.js'
import { SECURITY_SCHEME } from '../schemas/bearer.js'
import endpoints from './auth/endpoints.js'
import { validateOptions, type OAuth2PasswordOptions } from './auth/options.js'
import { STORE_METHODS } from '../store/methods.js'
import { JwtVerifiers, keyRing, loadKeys } from './auth/keys.js'
import { addAuthenticate } from './auth/authenticate.js'
import { DPoPProofs } from './auth/dpop.js'
import accounts from './auth/accounts.js'
import { Mailer } from '../accounts/mailer.js'
import { BackgroundWork } from '../accounts/background.js'
import { AccountLimiter, DEFAULT_ACCOUNT_LIMITS } from '../limits/accounts.js'
import { commonPasswords } from '../passwords/blocklist.js'

export type { Store } from '../store/index.js'
export type { AccessTokenClaims } from '../tokens/access.js'
export type { RedisClient } from '../limits/redis.js'
export { SECURITY_SCHEME }
export type { OAuth2PasswordOptions } from './auth/options.js'

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
  /** The login (refresh family) the token was issued in, its `sid`; null for a token issued before tokens carried it. */
  sessionId: string | null
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
     * Pings the store and, when the `redis` option is set, Redis, at once. Resolves to those that did
     * not answer, with the error for the log (never for a response): empty when all did.
     */
    authHealth: () => Promise<Array<{ service: 'store' | 'redis', error: unknown }>>
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

// `request.user` is declared through @fastify/jwt's FastifyJWT, not on FastifyRequest directly, so
// that a host's own @fastify/jwt and this plugin declare it once between them. Only `user`: the
// payload a host signs its own tokens with stays the host's.
declare module '@fastify/jwt' {
  interface FastifyJWT {
    user: AuthUser
  }
}

/** How often the plugin re-reads the signing keys, so that `keys rotate` reaches it within five seconds. */
const KEY_REFRESH_INTERVAL = 2000
/**
 * How often the plugin reads the revocations recorded since its last look: a token revoked, a login
 * ended or a user changed anywhere is refused here within this, plus the time the store takes to
 * answer, well inside the second every instance is allowed.
 */
const REVOCATION_POLL_INTERVAL = 250
/** How often expired revocations and refresh tokens are deleted. */
const PRUNE_INTERVAL = 60_000

/**
 * The counters of failed logins and of the addresses users are known at. Through Redis one counter
 * holds both, shared by every instance; in memory they are apart, so that a flood of failures
 * filling one bound cannot push the known addresses out.
 */
async function failedLoginCounters (redis: OAuth2PasswordOptions['redis'], onError: (error: Error) => void): Promise<[Counter, Counter]> {
  if (redis === undefined) return [new MemoryCounter(), new MemoryCounter()]
  const counter = typeof redis === 'string'
    ? await RedisCounter.connect(redis, onError, { what: 'oauth2-password: option "redis" names a Redis server' })
    : new RedisCounter(redis)
  return [counter, counter]
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

  const encryption = new KeyEncryption(options.signingKeySecret)
  const opened = typeof options.store === 'string' ? await openStore(options.store, { name: 'oauth2-password: option "store"' }) : options.store
  // Whatever the store throws reaches the endpoints and `authenticate` as StoreUnavailableError (or
  // a duplicate error), so that no store, built-in or not, puts its own message in a response.
  const store = guardStore(opened, STORE_METHODS)
  let keys: KeyRing
  try {
    const loaded = await loadKeys(store, algorithm, lifetimes.accessToken, encryption)
    keys = loaded.ring
    // Said once, at start-up; a store in memory keeps nothing at rest.
    if (!encryption.enabled && !(opened instanceof MemoryStore)) {
      fastify.log.warn('private signing keys are stored unencrypted: set SIGNING_KEY_SECRET (the plugin\'s signingKeySecret option) to encrypt them')
    } else if (encryption.enabled && loaded.inClear > 0) {
      fastify.log.warn(`${loaded.inClear} private signing key(s) in the store are not encrypted: run \`oauth2-password keys encrypt\` with SIGNING_KEY_SECRET set`)
    }
  } catch (error) {
    // A wrong or missing secret ends the start-up here: only a store the plugin opened is its to close.
    if (typeof options.store === 'string') await store.close()
    throw error
  }
  // Through Redis one counter holds the failures and the known addresses; in memory they are apart,
  // so that a flood of failures filling one bound cannot push the known addresses out.
  const [failures, trust] = await failedLoginCounters(options.redis, error => fastify.log.warn({ err: error }, 'redis connection failed'))
  fastify.addHook('onClose', async () => { for (const counter of new Set([failures, trust])) await counter.close() })
  const limiter = new LoginLimiter(failures, trust, { ...DEFAULT_LOGIN_LIMITS, ...options.loginLimits })
  // The proofs used are remembered where the instances share state already: Redis when there is one,
  // so that a protected request writes nothing to the store, else the store.
  const dpopProofs = new DPoPProofs(failures instanceof RedisCounter
    ? new RedisProofReplayGuard(failures.client, failures.prefix)
    : new StoreProofReplayGuard(store))
  const dpopRequired = options.dpopRequired ?? false

  const hasher = new PasswordHasher({ argon2: options.argon2, ...options.hashing })
  // Made now, so that the first unknown username costs no more than a wrong password.
  await hasher.dummyHash()
  const accessTokens = new AccessTokenIssuer({ issuer, audience, ttl: lifetimes.accessToken, keys: () => keys })
  const jwtVerifiers = new JwtVerifiers(verificationRules(issuer, audience))
  fastify.addHook('onClose', async () => await jwtVerifiers.close())
  await jwtVerifiers.update(keys)
  const verifier = new AccessTokenVerifier({ ttl: lifetimes.accessToken, keys: () => keys, verifyWith: (token, key) => jwtVerifiers.verify(token, key) })
  const users = new UserCache(store)
  const revocations = new RevocationList(store, {
    accessTokenTtl: lifetimes.accessToken,
    onUserChange: (id: string) => users.forget(id),
    onUsersUnknown: () => users.clear()
  })
  await revocations.load()

  const background = [
    setInterval(() => {
      store.listSigningKeys()
        .then(async all => {
          const ring = keyRing(all, lifetimes.accessToken, encryption)
          // A key's verifier is ready before the ring that holds it is in force.
          await jwtVerifiers.update(ring)
          keys = ring
        })
        .catch((error: unknown) => fastify.log.error({ err: error }, 'reloading signing keys failed'))
    }, KEY_REFRESH_INTERVAL),
    setInterval(() => {
      // Kept a token's lifetime longer than they matter, so that an instance starting then still learns of them.
      store.prune(Date.now() - lifetimes.accessToken * 1000 - REVOCATION_OVERLAP)
        .catch((error: unknown) => fastify.log.error({ err: error }, 'pruning the store failed'))
    }, PRUNE_INTERVAL),
    setInterval(() => {
      revocations.poll().catch((error: unknown) => fastify.log.error({ err: error }, 'reading revocations failed'))
    }, REVOCATION_POLL_INTERVAL)
  ]
  // The timers never keep a process alive on their own.
  for (const timer of background) timer.unref()
  fastify.addHook('onClose', async () => {
    for (const timer of background) clearInterval(timer)
    // Only a store the plugin opened is the plugin's to close.
    if (typeof options.store === 'string') await store.close()
  })

  fastify.decorate('authStore', opened)
  /** `service`, with the error, if `ping` rejects. */
  async function unanswered (service: 'store' | 'redis', ping: Promise<void>) {
    try {
      await ping
      return []
    } catch (error) {
      return [{ service, error }]
    }
  }
  fastify.decorate('authHealth', async () => {
    const pings = [unanswered('store', store.ping())]
    if (options.redis !== undefined) pings.push(unanswered('redis', failures.ping()))
    return (await Promise.all(pings)).flat()
  })
  const secondFactor = new SecondFactor(store, encryption, issuer)
  const passwordMinLength = options.passwordMinLength ?? DEFAULT_PASSWORD_MIN_LENGTH
  const userAdmin = new UserAdmin(store, hasher, passwordMinLength, secondFactor)
  fastify.decorate('authUsers', userAdmin)
  // Read now, so that the first password set does not wait for the list.
  commonPasswords()
  addAuthenticate(fastify, { realm, dpopRequired, verifier, revocations, users, dpopProofs })

  await fastify.register(endpoints, {
    prefix: options.prefix ?? '',
    store,
    hasher,
    accessTokens,
    verifier,
    revocations,
    limiter,
    dpopProofs,
    secondFactor,
    keys: () => keys,
    scopes: options.scopes,
    issuer,
    lifetimes,
    emailVerificationRequired: options.emailVerification === 'required'
  })

  const mailer = options.mail === undefined ? null : new Mailer(options.mail)
  const mailWork = new BackgroundWork()
  fastify.addHook('onClose', async () => {
    // The mail of requests already answered goes out before the store and the SMTP connection close.
    await mailWork.settled()
    mailer?.close()
  })
  if (mailer === null) {
    fastify.log.info('account e-mail is off (no SMTP server configured): POST /email/verify, /email/verify/resend, /password/forgot and /password/reset answer 404')
  }
  await fastify.register(accounts, {
    prefix: options.prefix ?? '',
    store,
    hasher,
    limiter,
    revocations,
    userChanged: (id: string) => users.forget(id),
    passwordMinLength,
    users: userAdmin,
    accountLimiter: new AccountLimiter(failures, { ...DEFAULT_ACCOUNT_LIMITS, ...options.accountLimits }),
    mailer,
    registration: options.registration === undefined ? null : { scopes: options.registration.scopes ?? [] },
    emailVerification: options.emailVerification ?? 'optional',
    background: mailWork,
    issuer
  })
}

export default fp(oauth2Password, { name: 'oauth2-password', fastify: '5.x' })
export { oauth2Password }
