import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { TEST_ARGON2, freePort } from '../helper.js'
import { CLI, SERVER } from '../paths.js'

const PASSWORD = 'correct horse battery staple'

interface Running {
  child: ChildProcess
  port: number
  output: () => string
}

/** Starts the server on a free port and resolves once it listens; killed in teardown. */
async function start (t: Test, env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(await freePort()), LOG_LEVEL: 'info', ...TEST_ARGON2, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const listening = /"msg":"Server listening at https?:\/\/127\.0\.0\.1:(\d+)"/.exec(output)
      if (listening !== null) resolve(Number(listening[1]))
    })
    child.once('exit', code => reject(new Error(`server exited with ${code}: ${output}`)))
  })
  return { child, port, output: () => output }
}

/** Runs the server until it exits, for configurations it must refuse. */
async function refuse (env: Record<string, string>): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(process.execPath, [SERVER], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stderr }
}

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

async function call (
  url: string,
  options: { method?: string, headers?: Record<string, string>, body?: string, ca?: Buffer } = {}
): Promise<Answer> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca }, response => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

t.test('a bad value stops the server with a message naming the variable', async t => {
  const { code, stderr } = await refuse({ PORT: 'abc' })
  t.equal(code, 1)
  t.equal(stderr, 'Invalid configuration: PORT must be an integer from 0 to 65535; received "abc"\n')
})

t.test('in production the server refuses a plain http:// issuer on a non-loopback host, and says why', async t => {
  const { code, stderr } = await refuse({ NODE_ENV: 'production', HOST: '0.0.0.0', DATABASE_URL: 'memory:' })
  t.equal(code, 1)
  t.match(stderr, /^Invalid configuration: ISSUER must be https:\/\/ in production/)
  t.match(stderr, 'TLS_CERT and TLS_KEY')
})

t.test('TLS_CERT and TLS_KEY serve HTTPS directly, and the issuer follows', async t => {
  const dir = t.testdir()
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  const server = await start(t, { DATABASE_URL: 'memory:', TLS_CERT: cert, TLS_KEY: key, NODE_ENV: 'production' })
  const ca = readFileSync(cert)
  const health = await call(`https://127.0.0.1:${server.port}/health`, { ca })
  t.equal(health.status, 200)
  t.same(JSON.parse(health.body), { status: 'ok' })
  const metadata = JSON.parse((await call(`https://127.0.0.1:${server.port}/.well-known/oauth-authorization-server`, { ca })).body)
  t.equal(metadata.issuer, `https://127.0.0.1:${server.port}`, 'the default issuer is https once TLS is served')
  t.equal(metadata.token_endpoint, `https://127.0.0.1:${server.port}/token`)
})

t.test('TRUST_PROXY makes the forwarded client address the one audited and limited', async t => {
  const dir = t.testdir()
  const database = `sqlite:${join(dir, 'auth.db')}`
  execFileSync(process.execPath, [CLI, 'user', 'add', 'johndoe', '--scopes', 'me items', '--password-stdin'], {
    input: PASSWORD, env: { PATH: process.env.PATH ?? '', DATABASE_URL: database, ...TEST_ARGON2 }
  })
  for (const [trust, expected] of [['true', '203.0.113.7'], ['false', '127.0.0.1']] as const) {
    const server = await start(t, { DATABASE_URL: database, TRUST_PROXY: trust })
    const body = new URLSearchParams({ grant_type: 'password', username: 'johndoe', password: 'wrong password, long enough' }).toString()
    const answer = await call(`http://127.0.0.1:${server.port}/token`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.7' }
    })
    t.equal(answer.status, 400)
    await new Promise(resolve => setTimeout(resolve, 100))
    t.match(server.output(), `"audit":"login","username":"johndoe","clientAddress":"${expected}"`, `TRUST_PROXY=${trust}`)
    server.child.kill('SIGKILL')
  }
})

t.test('SIGTERM lets an in-flight login finish, then the server exits 0', async t => {
  const dir = t.testdir()
  const database = `sqlite:${join(dir, 'auth.db')}`
  // Costly enough hashing that the login is still running when the signal comes.
  const slow = { ARGON2_MEMORY_COST: '65536', ARGON2_TIME_COST: '4', ARGON2_PARALLELISM: '1' }
  execFileSync(process.execPath, [CLI, 'user', 'add', 'johndoe', '--scopes', 'me', '--password-stdin'], {
    input: PASSWORD, env: { PATH: process.env.PATH ?? '', DATABASE_URL: database, ...slow }
  })
  const server = await start(t, { DATABASE_URL: database, ...slow })
  const login = call(`http://127.0.0.1:${server.port}/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', username: 'johndoe', password: PASSWORD }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  await new Promise(resolve => setTimeout(resolve, 30))
  const exited = once(server.child, 'exit')
  server.child.kill('SIGTERM')
  const answer = await login
  t.equal(answer.status, 200, 'the in-flight login is answered')
  t.ok(JSON.parse(answer.body).access_token, 'with a token')
  const [code] = await exited as [number | null]
  t.equal(code, 0, 'then the process exits cleanly')
  t.match(server.output(), '"msg":"server closing"')
})
