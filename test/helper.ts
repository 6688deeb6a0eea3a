import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import fp from 'fastify-plugin'
import app from '../app.js'
import { loadConfig } from '../config/index.js'
import { serverLogging } from '../config/logger.js'
import { canonicalUsername } from '../passwords/username.js'
import { hashClientSecret } from '../clients/secrets.js'
import { withLowS } from '../tokens/access.js'
import type { SigningKey, Store, User } from '../store/types.js'
import { TEST_ARGON2, cheapHasher } from './argon2.js'

export { CHEAP_ARGON2, TEST_ARGON2, cheapHasher } from './argon2.js'

export const PASSWORD = 'correct horse battery staple'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
/** A port nobody listens on right now. */
export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  return port
}

/** The issuer `build` runs with when `env` sets no ISSUER. */
const ISSUER = 'http://127.0.0.1:3000'

export interface Built {
  app: FastifyInstance
  /** Every log line the app wrote so far, parsed. */
  logs: () => Array<Record<string, unknown>>
  /** The raw text of every log line. */
  logText: () => string
}

/** Builds the whole standalone app on a memory store (unless `env` says otherwise) and closes it in teardown. */
export async function build (t: Test, env: Record<string, string> = {}): Promise<Built> {
  const config = loadConfig({ DATABASE_URL: 'memory:', ...TEST_ARGON2, ...env })
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(line => line !== ''))
      callback()
    }
  })
  // As server.ts makes it: the client address and protocol are the proxy's unless TRUST_PROXY says otherwise.
  const server = Fastify({ ...serverLogging('info', stream), trustProxy: config.TRUST_PROXY })
  // fastify-plugin exposes the app's decorators (authStore, config) on the root instance.
  await server.register(fp(app), { config })
  await server.ready()
  t.teardown(() => server.close())
  return {
    app: server,
    logs: () => lines.map(line => JSON.parse(line) as Record<string, unknown>),
    logText: () => lines.join('\n')
  }
}

/** Creates a user directly in the app's store, with the test argon2 parameters. */
export async function addUser (
  store: Store,
  username: string,
  options: { scopes?: string[], password?: string, email?: string, fullName?: string } = {}
): Promise<User> {
  return await store.createUser({
    username: canonicalUsername(username),
    scopes: options.scopes ?? ['me', 'items'],
    email: options.email ?? null,
    fullName: options.fullName ?? null,
    passwordHash: await cheapHasher().hash(options.password ?? PASSWORD)
  })
}

/** Logs in through POST /token and returns the parsed 200 body. */
export async function login (
  app: FastifyInstance,
  username: string,
  fields: Record<string, string> = {}
): Promise<{ access_token: string, refresh_token?: string, scope: string, expires_in: number, token_type: string }> {
  const response = await app.inject({
    method: 'POST',
    url: '/token',
    payload: new URLSearchParams({ grant_type: 'password', username, password: PASSWORD, ...fields }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json()
}

/** POSTs a form body (a string is sent as it is) to /token. */
export async function token (
  app: FastifyInstance,
  fields: Record<string, string> | string,
  headers: Record<string, string> = {}
): Promise<LightMyRequestResponse> {
  const payload = typeof fields === 'string' ? fields : new URLSearchParams(fields).toString()
  return await app.inject({ method: 'POST', url: '/token', payload, headers: { ...FORM, ...headers } })
}

/** POSTs a refresh_token grant for `refreshToken` to /token, with extra fields. */
export async function refresh (app: FastifyInstance, refreshToken: string, fields: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await token(app, { grant_type: 'refresh_token', refresh_token: refreshToken, ...fields })
}

/** GETs /users/me with `accessToken` as the bearer. */
export async function me (app: FastifyInstance, accessToken: string): Promise<LightMyRequestResponse> {
  return await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })
}

/** The payload of a JWT, unverified. */
export function claims (jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

/** The refresh token of a login; fails the test when there is none. */
export function refreshTokenOf (body: { refresh_token?: string }): string {
  if (typeof body.refresh_token !== 'string') throw new Error('the login returned no refresh token')
  return body.refresh_token
}

/** Creates a client directly in the app's store, its secret kept as the server keeps it (`null`: a public client). */
export async function createClient (app: FastifyInstance, id: string, secret: string | null, scopes = ['me', 'items']): Promise<void> {
  await app.authStore.createClient({ id, secretHash: secret === null ? null : hashClientSecret(secret), scopes, createdAt: Date.now() })
}

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks before the id and secret are joined. */
const formEncode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2)

/** An RFC 6749 §2.3.1 Basic header value for `id` and `secret`. */
export function basic (id: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`
}

/** Signs `payload` as an access token with `key`, the header as the server writes it unless `header` says otherwise. */
export function sign (key: SigningKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const signer = createSigner({
    key: key.privateKey,
    algorithm: key.alg,
    kid: key.kid,
    header: { alg: key.alg, typ: 'at+jwt', ...header }
  })
  // As the server signs: a high-S ES256 signature is refused as a second spelling of the token.
  return key.alg === 'ES256' ? withLowS(signer(payload)) : signer(payload)
}

/** The RFC 6749 §5.2 error shape: the status, `Cache-Control: no-store`, JSON, exactly `error` and `error_description`, the code, a string description. */
export function assertOAuthError (t: Test, response: LightMyRequestResponse, status: number, error: string): void {
  t.equal(response.statusCode, status, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['error', 'error_description'])
  t.equal(body.error, error)
  t.type(body.error_description, 'string')
}

/** 401 on a protected route with an RFC 6750 invalid_token challenge; `description`, when given, must match its error_description. */
export function assertInvalidToken (t: Test, response: LightMyRequestResponse, description?: RegExp): void {
  t.equal(response.statusCode, 401, response.body)
  t.equal(response.json().code, 'OAUTH2_INVALID_TOKEN')
  const challenge = response.headers['www-authenticate']
  t.match(challenge, new RegExp(`^Bearer realm="${ISSUER}", error="invalid_token", error_description="[^"]+"$`))
  if (description !== undefined) t.match(String(challenge).replace(/^.*error_description="/, ''), description)
}
