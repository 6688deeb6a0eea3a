import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { Writable } from 'node:stream'
import fp from 'fastify-plugin'
import app from '../app.js'
import { loadConfig } from '../config/index.js'
import { loggerOptions } from '../config/logger.js'
import { PasswordHasher } from '../passwords/hasher.js'
import { canonicalUsername } from '../passwords/username.js'
import type { Store, User } from '../store/types.js'

/** Cheap argon2id parameters: tests exercise the flow, not the cost. */
export const TEST_ARGON2 = { ARGON2_MEMORY_COST: '1024', ARGON2_TIME_COST: '1', ARGON2_PARALLELISM: '1' }

export const PASSWORD = 'correct horse battery staple'

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
  const server = Fastify({ logger: loggerOptions('info', stream) })
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
  const hasher = new PasswordHasher({ argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
  return await store.createUser({
    username: canonicalUsername(username),
    scopes: options.scopes ?? ['me', 'items'],
    email: options.email ?? null,
    fullName: options.fullName ?? null,
    passwordHash: await hasher.hash(options.password ?? PASSWORD)
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
