// What a host's TypeScript sees when it imports only this package: the built declarations in
// dist/, under `strict` with every .d.ts checked (tstyche.config.json, test/types/tsconfig.json).
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { describe, expect, test } from 'tstyche'
import oauth2Password, {
  createUsers, MemoryStore, openStore, DuplicateUsernameError, InvalidTokenError, UserExistsError, TotpEnrolledError,
  type AuthUser, type ErrorCode, type OAuth2PasswordOptions, type RedisClient, type Store, type TotpActivation, type TotpEnrollment,
  type TotpSecret, type UserAccount, type Users
} from 'fastify-oauth2-password'
import { PostgresStore } from 'fastify-oauth2-password/postgres'
import { storeContract } from 'fastify-oauth2-password/testing'
import { Redis } from 'ioredis'
import pg from 'pg'
import tap from 'tap'

const app = Fastify()
await app.register(oauth2Password, { store: 'memory:', issuer: 'https://api.example.com', scopes: { 'orders:read': 'Read orders' } })

describe('a protected route', () => {
  test('request.user is the authenticated user, without a cast', () => {
    app.get('/orders', { preHandler: app.authenticate, config: { scopes: ['orders:read'] } }, async (request) => {
      expect(request.user.username).type.toBe<string>()
      expect(request.user.id).type.toBe<string>()
      expect(request.user.email).type.toBe<string | null>()
      expect(request.user.scopes).type.toBe<string[]>()
      expect(request.user.expiresAt).type.toBe<number>()
      expect(request.user.sessionId).type.toBe<string | null>()
      expect(request.user).type.toBeAssignableTo<AuthUser>()
      expect(request.user).type.not.toHaveProperty('passwordHash')
      return { owner: request.user.username }
    })
  })

  test('fastify.authenticate is a preHandler', () => {
    expect(app.authenticate).type.toBe<(request: FastifyRequest, reply: FastifyReply) => Promise<void>>()
  })

  test('config.scopes is a list of scope names', () => {
    expect(app.get).type.toBeCallableWith('/a', { config: { scopes: ['orders:read'] } }, async () => 'ok')
    expect(app.get).type.not.toBeCallableWith('/a', { config: { scopes: 'orders:read' } }, async () => 'ok')
  })
})

describe('the plugin\'s options', () => {
  test('store, issuer and scopes are required', () => {
    expect(app.register).type.not.toBeCallableWith(oauth2Password, { issuer: 'https://a', scopes: {} })
    expect(app.register).type.not.toBeCallableWith(oauth2Password, { store: 'memory:', scopes: {} })
  })

  test('store is a URL or a Store; redis a URL or an ioredis client', () => {
    expect<OAuth2PasswordOptions['store']>().type.toBe<string | Store>()
    expect(new MemoryStore()).type.toBeAssignableTo<OAuth2PasswordOptions['store']>()
    expect(new Redis()).type.toBeAssignableTo<RedisClient>()
    expect(app.register).type.toBeCallableWith(oauth2Password, {
      store: new MemoryStore(), issuer: 'https://a', scopes: {}, redis: new Redis(), passwordMinLength: 20, prefix: '/auth'
    })
  })

  test('an unknown option is refused', () => {
    expect(app.register).type.not.toBeCallableWith(oauth2Password, { store: 'memory:', issuer: 'https://a', scopes: {}, secret: 'x' })
  })
})

describe('users from code', () => {
  test('fastify.authUsers and createUsers are the users API', () => {
    expect(app.authUsers).type.toBe<Users>()
    expect(createUsers({ store: new MemoryStore(), argon2: { memoryCost: 1024 } })).type.toBe<Users>()
    expect(app.authUsers.create({ username: 'alice', password: 'x', scopes: ['orders:read'] })).type.toBe<Promise<UserAccount>>()
    expect(app.authUsers.find('alice')).type.toBe<Promise<UserAccount | null>>()
    expect<UserAccount>().type.not.toHaveProperty('passwordHash')
  })

  test('the second factor, from code', () => {
    expect(app.authUsers.enrollTotp('alice')).type.toBe<Promise<TotpActivation>>()
    expect(app.authUsers.startTotpEnrollment('alice')).type.toBe<Promise<TotpSecret>>()
    expect(app.authUsers.confirmTotpEnrollment('alice', '123456')).type.toBe<Promise<string[]>>()
    expect(app.authUsers.disableTotp('alice')).type.toBe<Promise<void>>()
    expect(createUsers).type.toBeCallableWith({ store: new MemoryStore(), issuer: 'https://api.example.com', signingKeySecret: 'a secret of at least thirty-two characters' })
    expect<Store['findTotpEnrollment']>().type.toBe<(userId: string) => Promise<TotpEnrollment | null>>()
  })

  test('errors have their codes', () => {
    expect(new UserExistsError('"alice"').code).type.toBe<'OAUTH2_USER_EXISTS'>()
    expect(new InvalidTokenError('x').code).type.toBe<'OAUTH2_INVALID_TOKEN'>()
    expect(new DuplicateUsernameError('alice').code).type.toBe<'DUPLICATE_USERNAME'>()
    expect<'OAUTH2_PASSWORD_WEAK'>().type.toBeAssignableTo<ErrorCode>()
    expect<'OAUTH2_INVALID_DPOP_PROOF'>().type.toBeAssignableTo<ErrorCode>()
    expect(new TotpEnrolledError('"alice"').code).type.toBe<'OAUTH2_TOTP_ENROLLED'>()
    expect<'OAUTH2_TOTP_NOT_ENROLLED' | 'OAUTH2_TOTP_CODE_INVALID'>().type.toBeAssignableTo<ErrorCode>()
    expect<'OAUTH2_SESSION_NOT_FOUND' | 'OAUTH2_EMAIL_MISSING'>().type.toBeAssignableTo<ErrorCode>()
    expect<'OAUTH2_NO_SUCH_CODE'>().type.not.toBeAssignableTo<ErrorCode>()
  })
})

describe('stores', () => {
  test('openStore and PostgresStore give Stores; fromPool takes a pg Pool', () => {
    expect(openStore('memory:')).type.toBe<Promise<Store>>()
    expect(PostgresStore.fromPool(new pg.Pool())).type.toBe<Promise<PostgresStore>>()
    expect(PostgresStore.fromPool).type.not.toBeCallableWith('postgres://localhost/db')
  })

  test('the store contract suite runs under tap', () => {
    expect(storeContract).type.toBeCallableWith(tap, async () => new MemoryStore())
  })
})
