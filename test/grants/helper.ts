import type { Test } from 'tap'
import { createVerifier } from 'fast-jwt'
import { MemoryStore } from '../../store/index.js'
import type { Client } from '../../store/types.js'
import { cheapHasher } from '../argon2.js'
import { MemoryCounter } from '../../limits/counter.js'
import { DEFAULT_LOGIN_LIMITS, LoginLimiter, type LoginLimits } from '../../limits/login.js'
import { AccessTokenIssuer } from '../../tokens/access.js'
import { KeyRing, generateSigningKey } from '../../tokens/keys.js'
import { KeyEncryption } from '../../tokens/key-encryption.js'
import { RevocationList } from '../../tokens/revocations.js'
import { hashClientSecret } from '../../clients/secrets.js'
import { FIRST_PARTY } from '../../clients/authentication.js'
import { SecondFactor } from '../../users/second-factor.js'
import { LoginAudit } from '../../grants/audit.js'
import type { GrantRequest, Lifetimes, Logger } from '../../grants/grant.js'

// The grants' services as the auth plugin wires them, on a memory store, for tests that call a grant
// directly, without a server.

export const ISSUER = 'https://auth.example.test'
export const PASSWORD = 'correct horse battery staple'
/** Cheap argon2id parameters: tests exercise the flow, not the cost. */
export const CATALOGUE = { me: 'Read information about the current user', items: 'Read items' }
export const LIFETIMES: Lifetimes = { accessToken: 900, refreshToken: 3600, refreshFamily: 86_400, reuseGrace: 10 }

const key = generateSigningKey('ES256')
const ring = new KeyRing([key])
const verify = createVerifier({ key: key.publicKey, algorithms: ['ES256'] })

/** The verified claims of an access token a grant issued. */
export function accessClaims (token: string): Record<string, unknown> {
  return verify(token) as Record<string, unknown>
}

/** The built-in public client, as client authentication returns it. */
export const firstParty: Client = { id: FIRST_PARTY, secretHash: null, scopes: Object.keys(CATALOGUE), createdAt: 0 }
/** A registered confidential client that may have `me` only. */
export const backend: Client = { id: 'backend', secretHash: hashClientSecret('b'.repeat(32)), scopes: ['me'], createdAt: 0 }

export interface Line extends Record<string, unknown> {
  level: 'info' | 'warn'
  msg: string
}

/** A logger that keeps its lines, as pino would write them. */
export function recordingLogger (): Logger & { lines: Line[] } {
  const lines: Line[] = []
  return {
    lines,
    info: (fields, message) => { lines.push({ ...fields, level: 'info', msg: message }) },
    warn: (fields, message) => { lines.push({ ...fields, level: 'warn', msg: message }) }
  }
}

/** Every service a grant takes, fresh for one test and closed in its teardown; `request` is a request from one address. */
export function grantServices (
  t: Test,
  options: { limits?: Partial<LoginLimits>, lifetimes?: Partial<Lifetimes>, emailVerificationRequired?: boolean } = {}
) {
  const store = new MemoryStore()
  const failures = new MemoryCounter()
  const trust = new MemoryCounter()
  const log = recordingLogger()
  const audit = new LoginAudit(log)
  t.teardown(async () => {
    audit.close()
    await failures.close()
    await trust.close()
    await store.close()
  })
  const lifetimes = { ...LIFETIMES, ...options.lifetimes }
  const services = {
    store,
    hasher: cheapHasher(),
    accessTokens: new AccessTokenIssuer({ issuer: ISSUER, audience: ISSUER, ttl: lifetimes.accessToken, keys: () => ring }),
    limiter: new LoginLimiter(failures, trust, { ...DEFAULT_LOGIN_LIMITS, ...options.limits }),
    revocations: new RevocationList(store, { accessTokenTtl: lifetimes.accessToken, onUserChange: () => {}, onUsersUnknown: () => {} }),
    secondFactor: new SecondFactor(store, new KeyEncryption(undefined), ISSUER),
    audit,
    scopes: CATALOGUE,
    lifetimes,
    emailVerificationRequired: options.emailVerificationRequired ?? false
  }
  const request: GrantRequest = { ip: '192.0.2.1', log }
  return { services, request, lines: log.lines }
}
