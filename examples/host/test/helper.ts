import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { build } from '../app.js'

/**
 * The cheapest argon2id cost the plugin accepts: creating a user and logging in take a few
 * milliseconds instead of a quarter of a second. Tests only; production keeps the default.
 */
export const TEST_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 }

export const PASSWORD = 'correct horse battery staple'

/** The whole app on a throw-away memory store, closed when the test ends. */
export async function buildApp (t: Test): Promise<FastifyInstance> {
  const app = await build({ store: 'memory:', issuer: 'http://shop.test', argon2: TEST_ARGON2 })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** Creates a user allowed `scopes` with the users API, logs them in through inject, and returns the headers to call routes as them. */
export async function loginAs (app: FastifyInstance, username: string, scopes: string[]): Promise<{ authorization: string }> {
  await app.authUsers.create({ username, password: PASSWORD, scopes })
  const response = await app.inject({
    method: 'POST',
    url: '/auth/token',
    payload: new URLSearchParams({ grant_type: 'password', username, password: PASSWORD }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return { authorization: `Bearer ${response.json<{ access_token: string }>().access_token}` }
}
