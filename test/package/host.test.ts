import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { CHEAP_ARGON2 } from '../argon2.js'
import { ROOT } from '../paths.js'

// A host that installed this package and Fastify only, as `npm install fastify-oauth2-password
// fastify` leaves it: none of the optional drivers (pg, better-sqlite3, ioredis), none of the
// standalone server's packages (@fastify/swagger, helmet, …). Built offline from the repository's
// node_modules: the package is a copy (so that nothing resolves from the repository), every other
// package a link, less those a host does not get. Copies dist/, which test/before.ts keeps built.

const run = promisify(execFile)
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string
  peerDependenciesMeta: Record<string, { optional?: boolean }>
  workspaces: string[]
}
const standalone = JSON.parse(fs.readFileSync(path.join(ROOT, 'standalone/package.json'), 'utf8')) as { name: string, dependencies: Record<string, string> }

const DRIVERS = Object.keys(manifest.peerDependenciesMeta)
/** What a host does not get: the drivers it did not ask for, the standalone server's packages, and the repository's own tools' types of them. */
const ABSENT = new Set([
  ...DRIVERS,
  ...Object.keys(standalone.dependencies).filter(name => name !== 'fastify'),
  standalone.name,
  manifest.name,
  '@types/pg', '@types/better-sqlite3', 'openapi-types', '@fastify/type-provider-typebox', 'tap', 'tstyche'
])

const host = fs.mkdtempSync(path.join(os.tmpdir(), 'host-'))
t.teardown(() => fs.rmSync(host, { recursive: true, force: true }))

function layOut (): void {
  const modules = path.join(host, 'node_modules')
  fs.mkdirSync(modules)
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry.startsWith('.')) continue
    const names = entry.startsWith('@')
      ? fs.readdirSync(path.join(ROOT, 'node_modules', entry)).map(name => `${entry}/${name}`)
      : [entry]
    for (const name of names) {
      if (ABSENT.has(name)) continue
      fs.mkdirSync(path.dirname(path.join(modules, name)), { recursive: true })
      fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(modules, name))
    }
  }
  const copy = path.join(modules, manifest.name)
  fs.mkdirSync(copy)
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(copy, 'package.json'))
  // Less the compiled tests, which the build for the tests adds and no package holds.
  fs.cpSync(path.join(ROOT, 'dist'), path.join(copy, 'dist'), { recursive: true, filter: source => source !== path.join(ROOT, 'dist', 'test') })
  fs.writeFileSync(path.join(host, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module' }))
}
layOut()

t.test('the layout has no driver', async t => {
  for (const driver of DRIVERS) t.notOk(fs.existsSync(path.join(host, 'node_modules', driver)), `${driver} is absent`)
})

t.test('without the drivers, the plugin runs on the memory store, and a store or Redis that needs one fails ready() naming it', async t => {
  const script = `
    import Fastify from 'fastify'
    import oauth2Password, { openStore, MissingDriverError } from 'fastify-oauth2-password'
    const options = { issuer: 'http://api.test', scopes: { 'orders:read': 'Read orders' }, argon2: ${JSON.stringify(CHEAP_ARGON2)} }
    const results = {}
    async function attempt (name, extra) {
      const app = Fastify()
      app.register(oauth2Password, { ...options, ...extra })
      try {
        await app.ready()
        results[name] = 'ready'
      } catch (error) {
        results[name] = { message: error.message, code: error.code }
      }
      await app.close()
    }
    await attempt('postgres', { store: 'postgres://user:hunter2@127.0.0.1:1/auth' })
    await attempt('sqlite', { store: 'sqlite:./data/auth.db' })
    await attempt('redis', { store: 'memory:', redis: 'redis://:hunter2@127.0.0.1:1' })
    const openStoreError = await openStore('postgres://127.0.0.1:1/auth', { name: 'DATABASE_URL' }).catch(error => error)
    results.openStore = { message: openStoreError.message, missingDriver: openStoreError instanceof MissingDriverError }

    const app = Fastify()
    await app.register(oauth2Password, { ...options, store: 'memory:' })
    app.get('/orders', { preHandler: app.authenticate, config: { scopes: ['orders:read'] } }, async request => ({ owner: request.user.username }))
    await app.authUsers.create({ username: 'shopper', password: 'correct horse battery staple', scopes: ['orders:read'] })
    const login = await app.inject({ method: 'POST', url: '/token', payload: 'grant_type=password&username=shopper&password=correct%20horse%20battery%20staple', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    const orders = await app.inject({ url: '/orders', headers: { authorization: 'Bearer ' + login.json().access_token } })
    results.memory = orders.json()
    await app.close()
    process.stdout.write(JSON.stringify(results))
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '--eval', script], { cwd: host, env: { PATH: process.env.PATH ?? '' } })
  const results = JSON.parse(stdout) as Record<string, { message: string, code?: string, missingDriver?: boolean } | Record<string, unknown>>
  t.strictSame(results.postgres, {
    message: 'oauth2-password: option "store" names a PostgreSQL database, which needs the package "pg": install it with npm install pg',
    code: 'OAUTH2_MISSING_DRIVER'
  })
  t.strictSame(results.sqlite, {
    message: 'oauth2-password: option "store" names a SQLite database, which needs the package "better-sqlite3": install it with npm install better-sqlite3',
    code: 'OAUTH2_MISSING_DRIVER'
  })
  t.strictSame(results.redis, {
    message: 'oauth2-password: option "redis" names a Redis server, which needs the package "ioredis": install it with npm install ioredis',
    code: 'OAUTH2_MISSING_DRIVER'
  })
  t.strictSame(results.openStore, {
    message: 'DATABASE_URL names a PostgreSQL database, which needs the package "pg": install it with npm install pg',
    missingDriver: true
  })
  t.notMatch(stdout, 'hunter2', 'no URL is ever repeated')
  t.strictSame(results.memory, { owner: 'shopper' }, 'the memory store needs no driver')
})

t.test('a strict TypeScript host that checks every .d.ts compiles against the package alone', async t => {
  fs.writeFileSync(path.join(host, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], strict: true, skipLibCheck: false, noEmit: true
    },
    files: ['host.ts']
  }))
  fs.writeFileSync(path.join(host, 'host.ts'), `
    import Fastify from 'fastify'
    import oauth2Password, { createUsers, MemoryStore, type AuthUser } from 'fastify-oauth2-password'
    const app = Fastify()
    await app.register(oauth2Password, { store: 'memory:', issuer: 'https://api.example.com', scopes: { 'orders:read': 'Read orders' } })
    app.get('/orders', { preHandler: app.authenticate, config: { scopes: ['orders:read'] } }, async (request) => {
      const user: AuthUser = request.user
      const username: string = request.user.username
      return { username, scopes: user.scopes }
    })
    await createUsers({ store: new MemoryStore() }).create({ username: 'alice', password: 'correct horse battery staple' })
    await app.authUsers.list()
  `)
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc')
  const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: host }).then(
    () => ({ code: 0, output: '' }),
    (error: { code: number, stdout: string }) => ({ code: error.code, output: error.stdout })
  )
  t.strictSame(result, { code: 0, output: '' }, 'tsc reports nothing')
})
