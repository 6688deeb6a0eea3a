import Fastify from 'fastify'
import t from 'tap'
import { serverLogging } from '../../config/logger.js'

// The standalone server's request loggers: pino's child of the server's logger, with the request
// id, made only when the request logs at a level that is on.

async function server (level: string): Promise<{ app: ReturnType<typeof Fastify>, lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const app = Fastify(serverLogging(level, { write: line => { lines.push(JSON.parse(line) as Record<string, unknown>) } }))
  app.get('/quiet', async request => {
    request.log.info({ password: 'hunter2' }, 'below the level')
    return { made: (request.log as unknown as { level: string }).level }
  })
  app.get('/loud', async request => {
    request.log.warn({ password: 'hunter2', nested: { password: 'hunter2' } }, 'at the level')
    request.log.info('below the level, after a line at it')
    request.log.child({ step: 'inner' }).error('from a child')
    return {}
  })
  app.get('/route-level', { logLevel: 'debug' }, async request => {
    request.log.debug('the route says debug')
    return {}
  })
  t.teardown(() => app.close())
  await app.ready()
  return { app, lines }
}

t.test('at warn, a request that logs below it writes nothing', async t => {
  const { app, lines } = await server('warn')
  const response = await app.inject('/quiet')
  t.equal(response.statusCode, 200)
  t.strictSame(response.json(), { made: 'warn' }, 'the request logger says the level it logs at')
  t.strictSame(lines, [])
})

t.test('a line at the level has the request id, and redaction applies to it and to its children', async t => {
  const { app, lines } = await server('warn')
  await app.inject({ url: '/loud', headers: { 'request-id': 'ignored' } })
  t.equal(lines.length, 2)
  const [warned, errored] = lines
  t.match(warned, { level: 40, msg: 'at the level', password: '[redacted]', nested: { password: '[redacted]' } })
  t.type(warned?.reqId, 'string')
  t.match(errored, { level: 50, msg: 'from a child', step: 'inner', reqId: warned?.reqId })
  t.notOk(JSON.stringify(lines).includes('hunter2'), 'no password in any line')
})

t.test('at info, every request logs its lines with its id', async t => {
  const { app, lines } = await server('info')
  await app.inject('/quiet')
  const messages = lines.map(line => line.msg)
  t.strictSame(messages, ['incoming request', 'below the level', 'request completed'])
  t.equal(new Set(lines.map(line => line.reqId)).size, 1, 'one request id on every line')
  t.equal(lines[1]?.password, '[redacted]')
})

t.test('a route with a log level of its own gets it', async t => {
  const { app, lines } = await server('warn')
  await app.inject('/route-level')
  t.ok(lines.some(line => line.level === 20 && line.msg === 'the route says debug'), 'its debug line is written')
  t.ok(lines.some(line => line.msg === 'request completed'), 'and Fastify\'s info lines with it')
})
