import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import t from 'tap'
import { TEST_ARGON2, freePort } from '../helper.js'
import { ROOT } from '../paths.js'

// README "Production": install, build, prune the dev dependencies, start. On a copy of the
// repository whose node_modules are hard links to this one's (the install step), so that pruning
// leaves the working tree alone; offline.

const run = promisify(execFile)
const PASSWORD = 'correct horse battery staple'

t.setTimeout(10 * 60_000)

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'production-'))
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))
const repo = path.join(work, 'repo')

/** The environment a production host gives the process: nothing of the test runner's. */
const env = (extra: Record<string, string> = {}): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: os.homedir(), ...extra })

t.test('install, build, prune --omit=dev, start: the standalone server and the CLI run', async t => {
  const { stdout: files } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })
  for (const file of files.split('\0').filter(file => file !== '' && fs.existsSync(path.join(ROOT, file)))) {
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true })
    fs.copyFileSync(path.join(ROOT, file), path.join(repo, file))
  }
  await run('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(repo, 'node_modules')])

  await run('npm', ['run', 'build'], { cwd: repo, env: env() })
  await run('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: repo, env: env() })
  for (const dev of ['typescript', 'tap', 'tstyche', '@types/node']) {
    t.notOk(fs.existsSync(path.join(repo, 'node_modules', dev)), `${dev} is pruned`)
  }
  for (const kept of ['fastify', 'helmet', '@fastify/swagger-ui', 'better-sqlite3', 'pg', 'ioredis', 'argon2']) {
    t.ok(fs.existsSync(path.join(repo, 'node_modules', kept)), `${kept} is kept`)
  }

  const database = `sqlite:${path.join(work, 'data', 'auth.db')}`
  const cli = spawn(process.execPath, ['dist/cli/index.js', 'user', 'add', 'alice', '--scopes', 'me', '--password-stdin'], {
    cwd: repo, env: env({ DATABASE_URL: database, ...TEST_ARGON2 })
  })
  cli.stdin.end(`${PASSWORD}\n`)
  let cliOutput = ''
  cli.stdout.setEncoding('utf8').on('data', (chunk: string) => { cliOutput += chunk })
  const [cliCode] = await once(cli, 'close') as [number | null]
  t.equal(cliCode, 0, 'the CLI adds a user')
  t.equal(cliOutput, 'created user "alice"\n')

  const port = await freePort()
  const server = spawn(process.execPath, ['dist/server.js'], {
    cwd: repo, env: env({ DATABASE_URL: database, PORT: String(port), NODE_ENV: 'production', LOG_LEVEL: 'info', ...TEST_ARGON2 })
  })
  t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL') })
  const exited = once(server, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  for await (const line of createInterface({ input: server.stdout })) {
    if (line.includes('Server listening')) break
  }
  const base = `http://127.0.0.1:${port}`
  const health = await fetch(`${base}/health`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const login = await fetch(`${base}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORD }) })
  t.equal(login.status, 200, 'the user the CLI added logs in')
  const { access_token: token } = await login.json() as { access_token: string }
  const me = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(me.status, 200)
  t.match(await me.json(), { username: 'alice', scopes: ['me'] })
  const docs = await fetch(`${base}/docs/json`)
  t.equal(docs.status, 200, 'Swagger, a standalone-only package, is there')

  server.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'and it stops cleanly on SIGTERM')
})
