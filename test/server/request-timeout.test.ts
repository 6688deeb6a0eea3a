import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { startServer } from '../integration/helper.js'

// A request's headers and body must arrive within REQUEST_TIMEOUT; a connection that trickles them
// is answered 408 and closed at most five seconds after that time (a slow-body attack held 3,000
// connections open for 450 s before). Measured on the real server, over a real socket.

const REQUEST_TIMEOUT = 1
/** The contract's bound past REQUEST_TIMEOUT, in seconds. */
const LATE_AT_MOST = 5

/** Sends `start` on a new connection, then a byte a second; resolves with what came back and when the server closed it. */
async function trickle (port: number, start: string): Promise<{ answer: string, seconds: number }> {
  const socket: Socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  const began = Date.now()
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  socket.write(start)
  const drip = setInterval(() => { if (!socket.destroyed) socket.write('a') }, 1000)
  // Never longer than the bound and some: a server that does not cut fails here rather than hang.
  const guard = setTimeout(() => socket.destroy(), (REQUEST_TIMEOUT + LATE_AT_MOST + 5) * 1000)
  await once(socket, 'close')
  clearInterval(drip)
  clearTimeout(guard)
  return { answer, seconds: (Date.now() - began) / 1000 }
}

t.test(`REQUEST_TIMEOUT=${REQUEST_TIMEOUT}: slow headers and slow bodies are cut within ${LATE_AT_MOST} s of it`, async t => {
  const server = await startServer(t, { DATABASE_URL: `sqlite:${join(t.testdir(), 'auth.db')}`, REQUEST_TIMEOUT: String(REQUEST_TIMEOUT) })
  const port = Number(new URL(server.url).port)
  const cases = {
    'a body sent a byte a second': 'POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ng',
    'headers sent a byte a second': 'GET /health HTTP/1.1\r\nHost: a\r\nX-Slow: '
  }
  const results = await Promise.all(Object.entries(cases).map(async ([name, start]) => ({ name, ...await trickle(port, start) })))
  for (const { name, answer, seconds } of results) {
    t.match(answer, /^HTTP\/1\.1 408 /, `${name}: answered 408`)
    t.ok(seconds >= REQUEST_TIMEOUT && seconds <= REQUEST_TIMEOUT + LATE_AT_MOST, `${name}: closed after ${seconds.toFixed(1)} s`)
  }
  const health = await fetch(`${server.url}/health`)
  t.equal(health.status, 200, 'the server goes on serving')
})
