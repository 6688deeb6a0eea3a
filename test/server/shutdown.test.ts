import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { PasswordHasher } from '../../passwords/hasher.js'
import { openStore } from '../../store/index.js'
import { PASSWORD } from '../helper.js'
import { startServer, type Server } from '../integration/helper.js'

// The server told to close (SIGTERM): a request that still arrives on an open keep-alive connection
// is refused with 503 and Retry-After, in its route's format; a close that does not finish in time,
// or a second signal, ends the process with a JSON log line like every other.

/** Costly enough hashing that a login is still running when the signal comes. */
const SLOW_ARGON2 = { memoryCost: 65536, timeCost: 4, parallelism: 1 }

interface Response { status: number, headers: Record<string, string>, body: string }

/** The HTTP/1.1 responses in what a socket received, in order (each with a Content-Length). */
function responses (raw: string): Response[] {
  const parsed: Response[] = []
  let rest = raw
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    if (end === -1) throw new Error(`an incomplete response: ${rest}`)
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n')
    const headers = Object.fromEntries(lines.map(line => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
    const length = Number(headers['content-length'])
    parsed.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) })
    rest = rest.slice(end + 4 + length)
  }
  return parsed
}

/** A raw connection to the server, for requests sent one after the other on it; `received` resolves with all it got once it closes. */
function connection (server: Server): { socket: Socket, received: Promise<string> } {
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1')
  let data = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk })
  return { socket, received: once(socket, 'close').then(() => data) }
}

function post (path: string, form: Record<string, string>): string {
  const body = new URLSearchParams(form).toString()
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`
}

/** Resolves once the server's output has matched `pattern` `count` times. */
async function logged (server: Server, pattern: RegExp, count = 1): Promise<void> {
  const seen = (): boolean => (server.output().match(new RegExp(pattern, 'g')) ?? []).length >= count
  while (!seen()) await once(server.child.stdout ?? server.child, 'data')
}

function lines (server: Server): Array<Record<string, unknown>> {
  return server.output().split('\n').filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>)
}

/**
 * The line the process wrote as it exited. Looked for among all, not taken as the last: pino flushes
 * it synchronously at exit, and a line written just before (the drain hook's) may still reach the
 * pipe after it from a write already under way.
 */
function lastWords (server: Server, msg: string): Record<string, unknown> | undefined {
  return lines(server).find(line => line.msg === msg)
}

t.test('requests that arrive on a keep-alive connection while the server closes get 503 and Retry-After', async t => {
  const database = `sqlite:${join(t.testdir(), 'auth.db')}`
  const store = await openStore(database)
  const passwordHash = await new PasswordHasher({ argon2: SLOW_ARGON2 }).hash(PASSWORD)
  await store.createUser({ username: 'johndoe', scopes: ['me'], passwordHash })
  await store.close()
  const server = await startServer(t, { DATABASE_URL: database })

  const a = connection(server)
  const b = connection(server)
  for (const { socket } of [a, b]) socket.write(post('/token', { grant_type: 'password', username: 'johndoe', password: PASSWORD }))
  await logged(server, /"url":"\/token"[^\n]*"msg":"incoming request"/, 2)
  // 'close', not 'exit': once its output has been read too.
  const exited = once(server.child, 'close')
  server.child.kill('SIGTERM')
  await logged(server, /"msg":"server draining/)
  a.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n')
  b.socket.write(post('/token', { grant_type: 'password', username: 'johndoe', password: 'not the password at all' }))

  const [loginA, healthA] = responses(await a.received)
  const [loginB, tokenB] = responses(await b.received)
  t.equal(loginA?.status, 200, 'the login in flight is answered')
  t.equal(loginB?.status, 200)
  t.equal(healthA?.status, 503, healthA?.body ?? '')
  t.equal(healthA?.headers['retry-after'], '1')
  t.equal(healthA?.headers.connection, 'close')
  t.strictSame(JSON.parse(healthA?.body ?? ''), {
    statusCode: 503, code: 'SERVER_CLOSING', error: 'Service Unavailable', message: 'The server is shutting down; retry shortly'
  })
  t.equal(tokenB?.status, 503, tokenB?.body ?? '')
  t.equal(tokenB?.headers['retry-after'], '1')
  t.equal(tokenB?.headers['cache-control'], 'no-store')
  t.strictSame(JSON.parse(tokenB?.body ?? ''), { error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable; retry shortly' },
    'the token endpoint answers in its RFC 6749 format')
  const [code] = await exited as [number | null]
  t.equal(code, 0, 'then the server exits cleanly')
})

/** Starts the server and leaves one request in it that never ends: its body never fully arrives. */
async function stalled (t: Test): Promise<Server> {
  const server = await startServer(t, { DATABASE_URL: 'memory:' })
  const { socket } = connection(server)
  t.teardown(() => { socket.destroy() })
  socket.write('POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=')
  await logged(server, /"msg":"incoming request"/)
  return server
}

t.test('a close that does not finish in 10 seconds ends the process with a JSON log line', async t => {
  const server = await stalled(t)
  // 'close', not 'exit': once its output has been read too.
  const exited = once(server.child, 'close')
  server.child.kill('SIGTERM')
  const [code] = await exited as [number | null]
  t.equal(code, 1)
  t.match(lastWords(server, 'killed by timeout (10000ms)'), { level: 50 })
})

t.test('a second signal while closing ends the process with a JSON log line', async t => {
  const server = await stalled(t)
  // 'close', not 'exit': once its output has been read too.
  const exited = once(server.child, 'close')
  server.child.kill('SIGTERM')
  await logged(server, /"msg":"server closing"/)
  server.child.kill('SIGTERM')
  const [code] = await exited as [number | null]
  t.equal(code, 1)
  t.match(lastWords(server, 'second SIGTERM, exiting'), { level: 50 })
})
