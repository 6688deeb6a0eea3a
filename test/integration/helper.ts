import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { request, type IncomingHttpHeaders } from 'node:http'
import pg from 'pg'
import type { Test } from 'tap'
import { TEST_ARGON2 } from '../argon2.js'
import { CLI, SERVER } from '../paths.js'

// Real processes for the integration tests: the compiled server and CLI (dist/, rebuilt by test/before.ts),
// spoken to over HTTP on 127.0.0.1 only.

/** One issuer for every instance: the default one names the port, and each instance has its own. */
export const ISSUER = 'http://auth.integration.test'

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? ''
export const REDIS_URL = process.env.TEST_REDIS_URL ?? ''

/** Bounds every wait on a process or a request, so that a hung one fails the test rather than the run. */
const DEADLINE_MS = 15_000

/** Only these variables reach a child: none of the test runner's loaders, nothing from the developer's shell. */
function childEnv (env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...TEST_ARGON2, ...env }
}

/** Resolves when the child has exited (at once if it has), SIGKILLing it first unless it is already gone. */
export async function kill (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

export interface Server {
  child: ChildProcess
  /** `http://127.0.0.1:<port>`. */
  url: string
  output: () => string
}

/**
 * Spawns the server on a port the system picks, synchronously, so that servers spawned one after the
 * other start at the same instant; resolves once it listens. SIGKILLed in teardown.
 */
export async function startServer (t: Test, env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [SERVER], {
    env: childEnv({ HOST: '127.0.0.1', PORT: '0', ISSUER, LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => kill(child))
  let output = ''
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not listening after ${DEADLINE_MS} ms: ${output}`)), DEADLINE_MS)
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const listening = /"msg":"Server listening at http:\/\/127\.0\.0\.1:(\d+)"/.exec(output)
      if (listening === null) return
      clearTimeout(timer)
      resolve(Number(listening[1]))
    })
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}: ${output}`))
    })
  })
  return { child, url: `http://127.0.0.1:${port}`, output: () => output }
}

export interface CliRun {
  child: ChildProcess
  /** The exit code, null when a signal ended it; and what it printed. */
  done: Promise<{ code: number | null, stdout: string, stderr: string }>
}

/** Runs `oauth2-password <args>` with `input` on stdin; SIGKILLed after `DEADLINE_MS` or in teardown. */
export function cli (t: Test, env: Record<string, string>, args: string[], input = ''): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => kill(child))
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // A CLI killed, or exiting before it reads stdin, makes this write fail with EPIPE: expected.
  child.stdin?.on('error', () => {})
  child.stdin?.end(input)
  const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS)
  const done = once(child, 'close').then(([code]) => {
    clearTimeout(timer)
    return { code: code as number | null, stdout, stderr }
  })
  return { child, done }
}

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
  json: () => any
}

/**
 * One HTTP request on a connection of its own (no keep-alive: a pooled socket could outlive a killed
 * server), from `localAddress` when given. Rejects on a network error or after `DEADLINE_MS`.
 */
export async function call (
  url: string,
  options: { method?: string, headers?: Record<string, string>, body?: string, localAddress?: string } = {}
): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, localAddress: options.localAddress, agent: false }, response => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body, json: () => JSON.parse(body) }))
      response.on('error', reject)
    })
    req.setTimeout(DEADLINE_MS, () => req.destroy(new Error(`no answer from ${url} within ${DEADLINE_MS} ms`)))
    req.on('error', reject)
    req.end(options.body)
  })
}

/** POST /token with a form body. */
export async function token (server: Server, fields: Record<string, string>, localAddress?: string): Promise<Answer> {
  return await call(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    localAddress
  })
}

/** A GET with a bearer token. */
export async function bearer (server: Server, path: string, accessToken: string): Promise<Answer> {
  return await call(`${server.url}${path}`, { headers: { authorization: `Bearer ${accessToken}` } })
}

/** A name unused by earlier runs, whose Redis counters and schemas outlive them. */
export function unique (prefix: string): string {
  return `${prefix}${randomBytes(6).toString('hex')}`
}

/** Runs `work` with a client on the test database, whose search_path is `schema`. */
export async function withPostgres<T> (schema: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  await client.connect()
  try {
    await client.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`)
    return await work(client)
  } finally {
    await client.end()
  }
}

/**
 * A DATABASE_URL for a schema that does not exist yet (the server creates it), dropped in teardown.
 * Call it before starting anything on it: teardowns run last-registered first, so the processes
 * registered after it are killed before the drop.
 */
export function freshSchema (t: Test, prefix: string): { schema: string, url: string } {
  const schema = unique(prefix)
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    await client.connect()
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`)
    } finally {
      await client.end()
    }
  })
  const separator = POSTGRES_URL.includes('?') ? '&' : '?'
  return { schema, url: `${POSTGRES_URL}${separator}schema=${schema}` }
}
