import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'

// Requests to the account endpoints through `inject`, and the checks every answer of theirs meets.

/** A request with a JSON body (when given) and a bearer token (when given). */
export async function api (
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  options: { token?: string, body?: unknown, headers?: Record<string, string> } = {}
): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] ??= 'application/json'
  return await app.inject({
    method,
    url,
    headers,
    ...(options.body !== undefined && { payload: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) })
  })
}

/** A refusal of an account endpoint: the status, `Cache-Control: no-store`, JSON with exactly `error` and `error_description`. */
export function assertAccountError (t: Test, response: LightMyRequestResponse, status: number, error: string, description?: RegExp): void {
  t.equal(response.statusCode, status, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['error', 'error_description'])
  t.equal(body.error, error)
  t.type(body.error_description, 'string')
  if (description !== undefined) t.match(body.error_description, description)
}

/** 204, with no body, never cached. */
export function assertNoContent (t: Test, response: LightMyRequestResponse): void {
  t.equal(response.statusCode, 204, response.body)
  t.equal(response.body, '')
  t.equal(response.headers['cache-control'], 'no-store')
}
