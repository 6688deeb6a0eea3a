import { join } from 'node:path'
import autoload from '@fastify/autoload'
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config/index.js'
import docs from './plugins/docs.js'
import draining from './plugins/draining.js'
import errors from './plugins/errors.js'
import security from './plugins/security.js'
import oauth2Password from './plugins/auth.js'

/** The standalone server's scopes: the names of FastAPI's security tutorial, so its clients work unchanged. */
export const SCOPES = {
  me: 'Read information about the current user.',
  items: 'Read items.'
}

export interface AppOptions {
  config: Config
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** The standalone server: the auth plugin configured from the environment, and the demo routes. */
export default async function app (fastify: FastifyInstance, { config }: AppOptions): Promise<void> {
  fastify.decorate('config', config)
  // Off unless origins are listed: bearer tokens need no cookies, so credentials stay off too. A
  // browser client sends its DPoP proofs in a header of their own, which the preflight must allow.
  if (config.CORS_ORIGINS.length > 0) {
    await fastify.register(cors, { origin: config.CORS_ORIGINS, methods: ['GET', 'POST'], allowedHeaders: ['Authorization', 'Content-Type', 'DPoP'] })
  }
  await fastify.register(security)
  await fastify.register(errors)
  await fastify.register(draining)
  // The docs plugin first, so that it sees every route; the auth plugin next, so that
  // `authenticate` exists when the routes load.
  await fastify.register(docs)
  await fastify.register(oauth2Password, {
    store: config.DATABASE_URL,
    issuer: config.ISSUER,
    audience: config.AUDIENCE,
    scopes: SCOPES,
    accessTokenTtl: config.ACCESS_TOKEN_TTL,
    refreshTokenTtl: config.REFRESH_TOKEN_TTL,
    refreshFamilyLifetime: config.REFRESH_FAMILY_LIFETIME,
    refreshReuseGrace: config.REFRESH_REUSE_GRACE,
    algorithm: config.JWT_ALGORITHM,
    signingKeySecret: config.SIGNING_KEY_SECRET,
    redis: config.REDIS_URL,
    dpopRequired: config.DPOP_REQUIRED,
    argon2: {
      memoryCost: config.ARGON2_MEMORY_COST,
      timeCost: config.ARGON2_TIME_COST,
      parallelism: config.ARGON2_PARALLELISM
    },
    passwordMinLength: config.PASSWORD_MIN_LENGTH,
    // A registered user may be granted the demo's scopes, as a user the CLI adds with --scopes "me items".
    ...(config.REGISTRATION === 'open' && { registration: { scopes: Object.keys(SCOPES) } }),
    emailVerification: config.EMAIL_VERIFICATION,
    ...(config.SMTP_URL !== undefined && config.MAIL_FROM !== undefined && { mail: { url: config.SMTP_URL, from: config.MAIL_FROM } })
  })
  await fastify.register(autoload, { dir: join(import.meta.dirname, 'routes') })

  fastify.addHook('onReady', async () => {
    if (await fastify.authStore.countUsers() === 0) {
      fastify.log.warn('The store has no users yet. Create one with: ' +
        'npx oauth2-password user add <username> --scopes "me items" (it asks for the password)')
    }
  })
}
