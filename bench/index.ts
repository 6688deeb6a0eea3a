import { spawn, spawnSync } from 'node:child_process'
import { randomUUID, verify as cryptoVerify } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import type autocannon from 'autocannon'
import argon2 from 'argon2'
import Database from 'better-sqlite3'
import pg from 'pg'
import { OWASP_ARGON2, PasswordHasher, type Argon2Parameters } from '../passwords/hasher.js'
import { openStore, type SigningAlgorithm, type SigningKey, type Store, type User } from '../store/index.js'
import { AccessTokenIssuer } from '../tokens/access.js'
import { KeyRing, SIGNING_ALGORITHMS, generateSigningKey } from '../tokens/keys.js'
import { newRefreshToken } from '../tokens/refresh.js'
import { load, merge, paced, spread, unexpected, type LoadResult, type Spread } from './load.js'
import { mib, table, type Row } from './report.js'
import { dpopKey, dpopProof } from './dpop.js'
import { verifyArguments } from './signature.js'

// `npm run bench`: the real server with its SQLite store, in a child process, loaded by
// autocannon from this one. Progress goes to stderr, the report to stdout; with --json, one JSON
// object is the very last line.

interface Profile {
  name: 'full' | 'quick' | 'smoke'
  /** Seconds of each measured scenario. */
  duration: number
  /** Seconds of unmeasured load on each GET route first, so that the JIT and the caches are warm. */
  warmup: number
  /** Runs compared with each other alternate in this many rounds, so that drift on the machine hits them alike: rounds of a second follow it closely. */
  rounds: number
  /** Seconds of the flood at ten times the hashing capacity. */
  overload: number
  /** Sequential wrong-password logins, and as many unknown-user ones. */
  timingSamples: number
  /** Seconds at most spent signing tokens for the cold run (RS256 signs slowly). */
  mintBudget: number
  argon2: Argon2Parameters
  /**
   * Whether the GET comparisons and the cold run pin the servers and the load generator to cores of
   * their own. Not in the smoke profile: on a machine busy with other work (the test suite's other
   * files) a pinned process cannot move to the core that is free, and a few seconds of work took
   * minutes.
   */
  pin: boolean
}

/** Refresh tokens made for each store's refresh scenario: more than the run can spend at the rates seen. */
const REFRESH_TOKENS: Record<Profile['name'], number> = { full: 40_000, quick: 8000, smoke: 200 }

const PROFILES: Record<Profile['name'], Profile> = {
  full: { name: 'full', duration: 15, warmup: 2, rounds: 15, overload: 5, timingSamples: 20, mintBudget: 6, argon2: OWASP_ARGON2, pin: true },
  quick: { name: 'quick', duration: 3, warmup: 1, rounds: 3, overload: 2, timingSamples: 10, mintBudget: 3, argon2: OWASP_ARGON2, pin: true },
  // Keeps the script working in the test suite: every step runs, nothing it measures means anything.
  smoke: {
    name: 'smoke',
    duration: 0.25,
    warmup: 0,
    rounds: 1,
    overload: 0.5,
    timingSamples: 2,
    mintBudget: 0.5,
    argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
    pin: false
  }
}

const SERVER = path.join(import.meta.dirname, 'server.js')
const BARE = path.join(import.meta.dirname, 'bare.js')
const ISSUER = 'http://127.0.0.1'
const USERNAME = 'bench'
/**
 * Users the login scenarios take turns with: logins of one user are counted before their password
 * is checked, and more than a hundred at once (the overload sends 650) would be refused as a
 * distributed guess at one account rather than measured.
 */
const LOGIN_USERS = Array.from({ length: 10 }, (_, index) => index === 0 ? USERNAME : `${USERNAME}-${index}`)
const PASSWORD = 'correct horse battery staple'
/** Connections of the throughput runs on GET routes: enough to keep the server busy between round trips. */
const CONNECTIONS = 10
/** The isolation probe: GET /status at a steady rate far below what the server can answer. */
const PROBE_RATE = 200
const PROBE_IN_FLIGHT = 16
/** Seconds the login flood runs before the probe starts, so that every hashing slot is taken. */
const FLOOD_RAMP = 0.5
/** Wrong passwords per existing user: fewer than the 10 in a row that lock a username from one address (docs/contract.md §9). */
const FAILURES_PER_USER = 9
/** app.ts passes no `hashing` option, so the server hashes with the PasswordHasher's defaults. */
const HASHING = new PasswordHasher()
const CAPACITY = HASHING.concurrency + HASHING.queueLimit
/** Twice as many login connections as hashing slots, so that no slot waits for a round trip. */
const LOGIN_CONNECTIONS = HASHING.concurrency * 2
/** Every hashing slot busy and half the queue full: saturated, yet no login refused. */
const FLOOD_CONNECTIONS = HASHING.concurrency + Math.floor(HASHING.queueLimit / 2)
const OVERLOAD_CONNECTIONS = CAPACITY * 10

// Each progress line says when it came, in seconds since the start: a run that is stopped (the
// test suite's smoke run has a deadline) shows where its time went, not only where it ended.
const note = (text: string): void => { process.stderr.write(`[${(performance.now() / 1000).toFixed(1)} s] ${text}\n`) }

function fastifyVersion (): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../../node_modules/fastify/package.json'), 'utf8')) as { version: string }
  return manifest.version
}

async function dropSchema (url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`)
  } finally {
    await client.end()
  }
}

interface Server {
  url: string
  pid: number
  stop: () => Promise<void>
}

/** Starts `script` (bench/server.js by default) and resolves once it listens; stops it when it does not. */
async function startServer (env: Record<string, string>, script: readonly string[] = [SERVER]): Promise<Server> {
  const child = spawn(process.execPath, [...script], { env, stdio: ['pipe', 'pipe', 'inherit'] })
  let stopping = false
  child.on('exit', (code, signal) => {
    if (!stopping) note(`the server exited (${signal ?? code}) before the benchmark stopped it`)
  })
  const stop = async (): Promise<void> => {
    stopping = true
    if (child.exitCode !== null || child.signalCode !== null) return
    // The server closes when its stdin ends; one that does not is killed.
    const exited = once(child, 'exit')
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  const lines = createInterface({ input: child.stdout })
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not listen within 30 s')), 30_000)
      child.once('exit', () => {
        clearTimeout(timer)
        reject(new Error('the server exited before listening'))
      })
      lines.on('line', line => {
        const url = /^listening on (http:\/\/\S+)$/.exec(line)?.[1]
        if (url === undefined) {
          note(`server: ${line}`)
          return
        }
        clearTimeout(timer)
        resolve(url)
      })
    })
    return { url, pid: child.pid ?? 0, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Whether `taskset` is at hand to pin processes to cores; without it nothing is pinned. */
const TASKSET = spawnSync('taskset', ['--version']).status === 0

/** Pins every thread of process `pid` to `cores` (such as '0' or '0-1'); true when it was done. */
function pin (pid: number, cores: string): boolean {
  return TASKSET && spawnSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' }).status === 0
}

const ALL_CORES = `0-${os.cpus().length - 1}`

/**
 * For the GET comparisons, the servers on core 0 and this process (the load generator) on core 1,
 * so that neither takes the other's core; afterwards every core for everyone again, since password
 * hashing is meant to run beside the event loop.
 */
async function pinned<T> (profile: Profile, servers: readonly Server[], work: () => Promise<T>): Promise<{ result: T, pinned: boolean }> {
  const done = profile.pin && os.cpus().length > 1 && servers.every(server => pin(server.pid, '0')) && pin(process.pid, '1')
  try {
    return { result: await work(), pinned: done }
  } finally {
    if (done) {
      for (const server of servers) pin(server.pid, ALL_CORES)
      pin(process.pid, ALL_CORES)
    }
  }
}

/** Raw signature checks of `token` per second, back to back on this thread: what a cold request cannot beat. */
function rawVerifications (token: string, key: SigningKey, seconds: number): number {
  const dot = token.lastIndexOf('.')
  const input = Buffer.from(token.slice(0, dot))
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  const { digest, key: options } = verifyArguments(key.publicKey, key.alg)
  let count = 0
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    for (let batch = 0; batch < 100; batch++) {
      if (!cryptoVerify(digest, input, options, signature)) throw new Error('the token does not verify')
      count++
    }
  }
  return count / seconds
}

/** Refresh tokens of the bench user, each in a family of its own, for refreshes that each use one once. */
function newRefreshTokens (count: number): Array<{ value: string, hash: string }> {
  return Array.from({ length: count }, () => newRefreshToken())
}

const family = (userId: string, now: number) => ({
  id: randomUUID(), userId, clientId: 'first-party', scopes: ['me', 'items'], tokenVersion: 0, createdAt: now, expiresAt: now + 86_400_000
})

/**
 * Writes the families straight into the SQLite file, in one transaction: through the store each
 * would wait for its own fsync, minutes for a full run.
 */
function seedSqliteRefreshTokens (file: string, userId: string, tokens: ReadonlyArray<{ hash: string }>): void {
  const db = new Database(file)
  try {
    const now = Date.now()
    const insertFamily = db.prepare('INSERT INTO refresh_families (id, user_id, client_id, scopes, token_version, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    const insertToken = db.prepare('INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)')
    db.transaction(() => {
      for (const { hash } of tokens) {
        const { id, clientId, scopes, tokenVersion, createdAt, expiresAt } = family(userId, now)
        insertFamily.run(id, userId, clientId, JSON.stringify(scopes), tokenVersion, createdAt, expiresAt)
        insertToken.run(hash, id, now, expiresAt)
      }
    })()
  } finally {
    db.close()
  }
}

/** Through the store, several at once: PostgreSQL takes concurrent inserts. */
async function seedRefreshTokens (store: Store, userId: string, tokens: ReadonlyArray<{ hash: string }>): Promise<void> {
  const now = Date.now()
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < tokens.length) {
      const { hash } = tokens[next++] ?? { hash: '' }
      const created = family(userId, now)
      await store.createRefreshFamily(created, { hash, createdAt: now, expiresAt: created.expiresAt })
    }
  }))
}

interface Fixture {
  user: User
  /** Existing users for the wrong-password logins, a few failures each. */
  timingUsers: string[]
  passwordHash: string
  keys: KeyRing
}

/** Users and the first signing key, written before the server starts, which finds them. */
async function prepare (database: string, profile: Profile, alg: SigningAlgorithm): Promise<Fixture> {
  const store = await openStore(database)
  try {
    // One hash for every user: the same password, and hashing is the slow part.
    const passwordHash = await new PasswordHasher({ argon2: profile.argon2 }).hash(PASSWORD)
    const [user] = await Promise.all(LOGIN_USERS.map(async username => await store.createUser({ username, scopes: ['me', 'items'], passwordHash })))
    if (user === undefined) throw new Error('no bench user')
    const timingUsers = Array.from({ length: Math.ceil(profile.timingSamples / FAILURES_PER_USER) }, (_, index) => `timing-${index}`)
    for (const username of timingUsers) await store.createUser({ username, scopes: ['me'], passwordHash })
    const keys = new KeyRing(await store.addFirstSigningKey(generateSigningKey(alg)))
    return { user, timingUsers, passwordHash, keys }
  } finally {
    await store.close()
  }
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const form = (username: string, password: string): string =>
  new URLSearchParams({ grant_type: 'password', username, password }).toString()
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

async function postLogin (url: string, username: string, password: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(`${url}/token`, {
    method: 'POST', headers: { ...FORM, ...clientAddress() }, body: form(username, password), signal: AbortSignal.timeout(30_000)
  })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

async function expectOk (url: string, headers: Record<string, string> = {}): Promise<void> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
}

interface ProcessStats {
  /** CPU time since start, µs. */
  cpu: number
  rss: number
  maxRss: number
}

async function processStats (url: string): Promise<ProcessStats> {
  const response = await fetch(`${url}/bench-process`, { signal: AbortSignal.timeout(10_000) })
  return await response.json() as ProcessStats
}

/** A load run, and the CPU time the server spent meanwhile, in seconds. */
interface Measured {
  result: LoadResult
  cpu: number
}

async function measured (url: string, run: () => Promise<LoadResult>): Promise<Measured> {
  const before = await processStats(url)
  const result = await run()
  const after = await processStats(url)
  return { result, cpu: (after.cpu - before.cpu) / 1e6 }
}

/** Rounds of one scenario, as one run. */
function combine (runs: readonly Measured[]): Measured {
  return { result: merge(runs.map(run => run.result)), cpu: runs.reduce((sum, run) => sum + run.cpu, 0) }
}

/** The cores the server kept busy. */
const busy = (run: Measured): number => run.cpu / run.result.seconds
const ok = (result: LoadResult): Spread => spread(result.latencies.get(200) ?? [])

/** What every scenario works with. */
interface Bench {
  url: string
  /** The benchmark's server process, to pin. */
  pid: number
  profile: Profile
  fixture: Fixture
  /** An access token from a real login. */
  token: string
  /** Signs a new access token as a login does, with the server's own key. */
  mint: () => string
  /** What went other than planned, and how often: the figures it touches mean less. */
  warnings: Map<string, number>
}

function warn (bench: Bench, warning: string): void {
  bench.warnings.set(warning, (bench.warnings.get(warning) ?? 0) + 1)
}

/** Notes answers that a scenario did not expect: its figures would mean something else. */
function check (bench: Bench, name: string, result: LoadResult, expected: readonly number[]): void {
  const problem = unexpected(result, expected)
  if (problem !== null) warn(bench, `${name}: ${problem}`)
}

let clients = 0
/**
 * A client address of its own for each login, in X-Forwarded-For, which the server trusts here:
 * logins of one user from one address are counted before their password is checked, and more than
 * ten at once from one place would be refused as guessing rather than measured.
 */
function clientAddress (): Record<string, string> {
  const next = clients++
  return { 'x-forwarded-for': `10.${(next >> 16) & 255}.${(next >> 8) & 255}.${next & 255}` }
}

const login = (bench: Bench) => ({
  url: `${bench.url}/token`,
  method: 'POST' as const,
  headers: FORM,
  requests: [{
    setupRequest: (request: autocannon.Request) => ({
      ...request,
      headers: { ...request.headers, ...clientAddress() },
      body: form(LOGIN_USERS[clients % LOGIN_USERS.length] ?? USERNAME, PASSWORD)
    })
  }]
})

/**
 * Logins stay queued for hashing after a flood stops: waits until one more login gets in (503
 * while the queue is full) and comes back, which it does once everything before it is done.
 */
async function settle (bench: Bench): Promise<void> {
  const end = performance.now() + 60_000
  while (performance.now() < end) {
    const answer = await postLogin(bench.url, USERNAME, PASSWORD)
    if (answer.status === 200) return
    if (answer.status !== 503) throw new Error(`POST /token answered ${answer.status}: ${JSON.stringify(answer.body)}`)
    await sleep(100)
  }
  throw new Error('logins were still refused a minute after a flood')
}

/**
 * Runs each of `runs` in turn, the profile's `rounds` times over, each time for its share of the
 * profile's duration, and merges each one's rounds: whatever else the machine does meanwhile hits
 * every run alike.
 */
async function alternate (
  bench: Bench,
  runs: ReadonlyArray<(seconds: number) => Promise<LoadResult>>,
  /** The server each run loads, whose CPU time is measured: the benchmark's server unless said. */
  urls: readonly string[] = runs.map(() => bench.url)
): Promise<Measured[]> {
  const { rounds, duration } = bench.profile
  const results = runs.map((): Measured[] => [])
  for (let round = 0; round < rounds; round++) {
    for (const [index, run] of runs.entries()) results[index]?.push(await measured(urls[index] ?? bench.url, () => run(duration / rounds)))
  }
  return results.map(combine)
}

const getRun = (url: string, headers: Record<string, string> = {}) => (seconds: number) =>
  load({ url, connections: CONNECTIONS, headers, duration: seconds })

/**
 * The standalone server's GET /users/me with one token, against bare Fastify answering the same
 * body; then the plugin in an app of its own, a route behind `authenticate` against the same route
 * open. Each pair alternates in rounds; the servers and this process are pinned to cores of their own.
 */
async function againstFastify (bench: Bench, bare: Server, plugin: Server): Promise<{ standalone: Measured, bare: Measured, guarded: Measured, open: Measured, pinned: boolean }> {
  const runs = [
    getRun(`${bench.url}/users/me`, bearer(bench.token)),
    getRun(`${bare.url}/users/me`),
    getRun(`${plugin.url}/protected`, bearer(bench.token)),
    getRun(`${plugin.url}/open`)
  ]
  const urls = [bench.url, bare.url, plugin.url, plugin.url]
  const { result, pinned: done } = await pinned(bench.profile, [{ url: bench.url, pid: bench.pid, stop: async () => {} }, bare, plugin], async () => {
    if (bench.profile.warmup > 0) for (const run of runs) await run(bench.profile.warmup)
    const [standalone, bareRun] = await alternate(bench, runs.slice(0, 2), urls.slice(0, 2)) as [Measured, Measured]
    const [guarded, open] = await alternate(bench, runs.slice(2), urls.slice(2)) as [Measured, Measured]
    return { standalone, bare: bareRun, guarded, open }
  })
  check(bench, 'GET /users/me, standalone', result.standalone.result, [200])
  check(bench, 'GET /users/me, bare Fastify', result.bare.result, [200])
  check(bench, 'GET /protected, plugin', result.guarded.result, [200])
  check(bench, 'GET /open, plugin', result.open.result, [200])
  return { ...result, pinned: done }
}

/** Refresh grants, each with a refresh token of its own, used once: the run ends early rather than send one twice. */
function refreshRun (url: string, tokens: ReadonlyArray<{ value: string }>) {
  let sent = 0
  return async (seconds: number): Promise<LoadResult> => {
    const left = tokens.length - sent
    if (left <= 0) return { rps: 0, seconds: 0, statuses: new Map(), latencies: new Map(), errors: 0 }
    return await load({
      url: `${url}/token`,
      method: 'POST',
      headers: FORM,
      connections: CONNECTIONS,
      duration: seconds,
      maxOverallRequests: left,
      requests: [{
        setupRequest: request => ({
          ...request,
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens[sent++]?.value ?? '' }).toString()
        })
      }]
    })
  }
}

/** (a), (b): the baseline and the protected route with one token. */
async function throughput (bench: Bench): Promise<{ baseline: Measured, warm: Measured }> {
  const run = (route: string, headers: Record<string, string>) => (seconds: number) =>
    load({ url: `${bench.url}${route}`, connections: CONNECTIONS, headers, duration: seconds })
  const baselineRun = run('/baseline', {})
  const warmRun = run('/status', bearer(bench.token))
  if (bench.profile.warmup > 0) {
    await baselineRun(bench.profile.warmup)
    await warmRun(bench.profile.warmup)
  }
  const [baseline, warm] = await alternate(bench, [baselineRun, warmRun]) as [Measured, Measured]
  check(bench, 'GET /baseline', baseline.result, [200])
  check(bench, 'GET /status warm', warm.result, [200])
  return { baseline, warm }
}

/**
 * (d): GET /status with one DPoP-bound token and a new proof each request: one more signature check
 * than the warm run, and each proof's jti recorded in the store (SQLite here; Redis where there is one).
 */
async function dpop (bench: Bench, warmRps: number): Promise<{ run: Measured, proofs: number }> {
  const { url, profile } = bench
  const key = dpopKey()
  const response = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { ...FORM, dpop: dpopProof(key, 'POST', `${url}/token`) },
    body: form(USERNAME, PASSWORD),
    signal: AbortSignal.timeout(30_000)
  })
  const body = await response.json() as Record<string, unknown>
  if (response.status !== 200 || body.token_type !== 'DPoP') throw new Error(`POST /token with a DPoP proof answered ${response.status}: ${JSON.stringify(body)}`)
  const token = String(body.access_token)
  const authorization = { authorization: `DPoP ${token}` }
  await expectOk(`${url}/status`, { ...authorization, dpop: dpopProof(key, 'GET', `${url}/status`, token) })
  // As for the cold run: enough proofs for the warm rate, which this run cannot beat, within the
  // signing budget; each is used once, and all of them well inside the minute their iat allows.
  const wanted = Math.ceil(warmRps * profile.duration * 1.25) + CONNECTIONS
  const proofs: string[] = []
  const end = performance.now() + profile.mintBudget * 1000
  while (proofs.length < wanted && performance.now() < end) proofs.push(dpopProof(key, 'GET', `${url}/status`, token))
  let sent = 0
  const run = await measured(url, () => load({
    url: `${url}/status`,
    connections: CONNECTIONS,
    duration: profile.duration,
    maxOverallRequests: proofs.length,
    requests: [{
      setupRequest: request => {
        request.headers = { ...request.headers, ...authorization, dpop: proofs[sent++ % proofs.length] ?? '' }
        return request
      }
    }]
  }))
  check(bench, 'GET /status DPoP', run.result, [200])
  return { run, proofs: proofs.length }
}

/**
 * GET /status with a token never seen before on every request, alternated in rounds with its
 * bound: bare Fastify checking each token's signature and doing nothing else (bench/bare.ts).
 */
async function cold (bench: Bench, warmRps: number, bound: Server): Promise<{ run: Measured, bound: Measured, tokens: number, mintSeconds: number }> {
  const { url, profile } = bench
  // Enough tokens to last the warm-up and the run at the warm rate, which a cold run cannot beat.
  const wanted = Math.ceil(warmRps * (profile.warmup + profile.duration) * 1.25) + CONNECTIONS
  note(`signing up to ${wanted} tokens`)
  const tokens: string[] = []
  const start = performance.now()
  const end = start + profile.mintBudget * 1000
  while (tokens.length < wanted && performance.now() < end) tokens.push(bench.mint())
  const mintSeconds = (performance.now() - start) / 1000
  // Both walk the same tokens from the first. The server's run ends early rather than send one
  // twice, which it would answer from its cache; bare Fastify keeps nothing, and goes round again.
  const walk = (target: string, once: boolean) => {
    const walked = { sent: 0 }
    const run = async (seconds: number): Promise<LoadResult> => {
      const left = tokens.length - walked.sent
      if (once && left <= 0) return { rps: 0, seconds: 0, statuses: new Map(), latencies: new Map(), errors: 0 }
      return await load({
        url: target,
        connections: CONNECTIONS,
        duration: seconds,
        ...once && { maxOverallRequests: left },
        requests: [{
          setupRequest: request => {
            request.headers = { ...request.headers, ...bearer(tokens[walked.sent++ % tokens.length] ?? '') }
            return request
          }
        }]
      })
    }
    return { walked, run }
  }
  const coldWalk = walk(`${url}/status`, true)
  const boundWalk = walk(`${bound.url}/users/me`, false)
  // Both warm up on the first tokens, which the measured rounds then walk past.
  if (profile.warmup > 0) for (const { run } of [coldWalk, boundWalk]) await run(profile.warmup)
  const [run, boundRun] = await alternate(bench, [coldWalk.run, boundWalk.run], [url, bound.url]) as [Measured, Measured]
  check(bench, 'GET /status cold', run.result, [200])
  check(bench, 'GET /users/me, bare Fastify checking signatures', boundRun.result, [200])
  if (coldWalk.walked.sent > tokens.length) warn(bench, `GET /status cold: ${coldWalk.walked.sent - tokens.length} requests reused a token`)
  return { run, bound: boundRun, tokens: tokens.length, mintSeconds }
}

/** `argon2.verify` back to back in this process, as many at once as the server's hashing slots: the machine's limit. */
async function argon2Limit (hash: string, seconds: number): Promise<LoadResult> {
  const latencies: number[] = []
  const start = performance.now()
  const end = start + seconds * 1000
  await Promise.all(Array.from({ length: HASHING.concurrency }, async () => {
    while (performance.now() < end) {
      const sent = performance.now()
      if (!await argon2.verify(hash, PASSWORD)) throw new Error('argon2.verify refused the password')
      latencies.push(performance.now() - sent)
    }
  }))
  const elapsed = (performance.now() - start) / 1000
  return { rps: latencies.length / elapsed, seconds: elapsed, statuses: new Map([[200, latencies.length]]), latencies: new Map([[200, latencies]]), errors: 0 }
}

/** (d): logins with the correct password (which reset the failed-login count), against argon2 alone. */
async function loginThroughput (bench: Bench): Promise<{ limit: LoadResult, logins: Measured }> {
  const [limit, logins] = await alternate(bench, [
    async seconds => {
      // Logins still queued from the previous round would share the cores with these hashes.
      await settle(bench)
      return await argon2Limit(bench.fixture.passwordHash, seconds)
    },
    seconds => load({ ...login(bench), connections: LOGIN_CONNECTIONS, duration: seconds })
  ]) as [Measured, Measured]
  await settle(bench)
  check(bench, 'POST /token', logins.result, [200])
  return { limit: limit.result, logins }
}

/** (e): the latency of GET /status at a steady rate, alone and during a login flood that saturates hashing. */
async function isolation (bench: Bench): Promise<{ idle: LoadResult, flooded: LoadResult, flood: LoadResult }> {
  const probe = (seconds: number) => paced(`${bench.url}/status`, bearer(bench.token), PROBE_RATE, seconds, PROBE_IN_FLIGHT)
  const floods: LoadResult[] = []
  const [idle, flooded] = await alternate(bench, [probe, async seconds => {
    // The flood lasts as long as the probe; its duration only bounds it.
    const probed = new AbortController()
    const flooding = load({ ...login(bench), connections: FLOOD_CONNECTIONS, duration: seconds * 3 + 10 }, probed.signal)
    await sleep(FLOOD_RAMP * 1000)
    const result = await probe(seconds)
    probed.abort()
    floods.push(await flooding)
    await settle(bench)
    return result
  }]) as [Measured, Measured]
  const flood = merge(floods)
  check(bench, 'GET /status probe, no flood', idle.result, [200])
  check(bench, 'GET /status probe, flood', flooded.result, [200])
  check(bench, 'POST /token flood', flood, [200])
  return { idle: idle.result, flooded: flooded.result, flood }
}

/** (e): ten times as many logins at once as hashing takes in (slots and queue); how many are refused, how, and the memory. */
async function overload (bench: Bench): Promise<{ result: LoadResult, retryAfter: number, before: ProcessStats, after: ProcessStats }> {
  const before = await processStats(bench.url)
  let retryAfter = 0
  const result = await load({
    ...login(bench),
    connections: OVERLOAD_CONNECTIONS,
    duration: bench.profile.overload,
    requests: [{
      ...login(bench).requests[0],
      onResponse: (status, _body, _context, headers) => {
        if (status === 503 && headers?.['retry-after'] !== undefined) retryAfter++
      }
    }]
  })
  const after = await processStats(bench.url)
  check(bench, 'POST /token overload', result, [200, 503])
  await settle(bench)
  return { result, retryAfter, before, after }
}

/** (f): one at a time, wrong passwords for existing users and logins of unknown users, alternating. */
async function timing (bench: Bench): Promise<{ wrong: Spread, unknown: Spread }> {
  const wrong: number[] = []
  const unknown: number[] = []
  const timed = async (into: number[], username: string, password: string): Promise<void> => {
    const sent = performance.now()
    const answer = await postLogin(bench.url, username, password)
    into.push(performance.now() - sent)
    if (answer.body.error !== 'invalid_grant') warn(bench, `a failed login answered ${answer.status} ${String(answer.body.error)}`)
  }
  for (let index = 0; index < bench.profile.timingSamples; index++) {
    const existing = bench.fixture.timingUsers[Math.floor(index / FAILURES_PER_USER)] ?? ''
    const nobody = `nobody-${index}-${process.pid}`
    // Neither kind always follows the other.
    if (index % 2 === 0) {
      await timed(wrong, existing, `wrong ${PASSWORD}`)
      await timed(unknown, nobody, PASSWORD)
    } else {
      await timed(unknown, nobody, PASSWORD)
      await timed(wrong, existing, `wrong ${PASSWORD}`)
    }
  }
  return { wrong: spread(wrong), unknown: spread(unknown) }
}

async function run (profile: Profile, alg: SigningAlgorithm, json: boolean): Promise<void> {
  const began = performance.now()
  const loadAverage = os.loadavg()[0] ?? 0
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2-bench-'))
  let server: Server | undefined
  const servers: Server[] = []
  let postgres: { schema: string, url: string } | undefined
  try {
    const file = path.join(tmp, 'auth.db')
    const database = `sqlite:${file}`
    note(`preparing ${database}`)
    const fixture = await prepare(database, profile, alg)
    const sqliteRefreshTokens = newRefreshTokens(REFRESH_TOKENS[profile.name])
    seedSqliteRefreshTokens(file, fixture.user.id, sqliteRefreshTokens)
    const serverEnv = (databaseUrl: string): Record<string, string> => ({
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      ISSUER,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
      // Every client address the benchmark logs in from comes in X-Forwarded-For.
      TRUST_PROXY: 'true',
      JWT_ALGORITHM: alg,
      ARGON2_MEMORY_COST: String(profile.argon2.memoryCost),
      ARGON2_TIME_COST: String(profile.argon2.timeCost),
      ARGON2_PARALLELISM: String(profile.argon2.parallelism)
    })
    server = await startServer(serverEnv(database))
    servers.push(server)
    const { url } = server
    note(`server listening on ${url}`)

    // Every scenario depends on these answers: a benchmark of errors would measure nothing.
    const first = await postLogin(url, USERNAME, PASSWORD)
    if (first.status !== 200) throw new Error(`POST /token answered ${first.status}: ${JSON.stringify(first.body)}`)
    const token = String(first.body.access_token)
    await expectOk(`${url}/status`, bearer(token))
    await expectOk(`${url}/baseline`)
    // Logging in once per cold token would take hours of argon2: the tokens are signed here, with
    // the server's key and the claims a login gives.
    const issuer = new AccessTokenIssuer({ issuer: ISSUER, audience: ISSUER, ttl: Number(first.body.expires_in), keys: () => fixture.keys })
    const claims = { userId: fixture.user.id, tokenVersion: fixture.user.tokenVersion, scopes: String(first.body.scope).split(' '), clientId: 'first-party', familyId: String(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).sid) }
    const bench: Bench = { url, pid: server.pid, profile, fixture, token, mint: () => issuer.issue(claims).token, warnings: new Map() }
    await expectOk(`${url}/status`, bearer(bench.mint()))
    const me = await (await fetch(`${url}/users/me`, { headers: bearer(token) })).text()
    const bare = await startServer({ PATH: process.env.PATH ?? '', BENCH_BODY: me }, [BARE, 'bare'])
    servers.push(bare)
    const verifying = await startServer({
      PATH: process.env.PATH ?? '', BENCH_BODY: me, BENCH_PUBLIC_KEY: fixture.keys.signing.publicKey, BENCH_ALG: alg
    }, [BARE, 'verify'])
    servers.push(verifying)
    await expectOk(`${verifying.url}/users/me`, bearer(token))
    const plugin = await startServer({
      PATH: process.env.PATH ?? '', DATABASE_URL: database, ISSUER, ARGON2_MEMORY_COST: String(profile.argon2.memoryCost)
    }, [BARE, 'plugin'])
    servers.push(plugin)
    await expectOk(`${plugin.url}/protected`, bearer(token))
    let postgresServer: Server | undefined
    let postgresRefreshTokens: Array<{ value: string, hash: string }> = []
    const postgresUrl = process.env.TEST_POSTGRES_URL
    if (postgresUrl !== undefined && postgresUrl !== '') {
      const schema = `bench_${randomUUID().replaceAll('-', '')}`
      postgres = { schema, url: postgresUrl }
      const pgDatabase = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}schema=${schema}`
      note(`preparing PostgreSQL schema ${schema}`)
      const store = await openStore(pgDatabase)
      try {
        const user = await store.createUser({ username: USERNAME, scopes: ['me', 'items'], passwordHash: fixture.passwordHash })
        postgresRefreshTokens = newRefreshTokens(REFRESH_TOKENS[profile.name])
        await seedRefreshTokens(store, user.id, postgresRefreshTokens)
      } finally {
        await store.close()
      }
      postgresServer = await startServer(serverEnv(pgDatabase))
      servers.push(postgresServer)
    }

    note('baseline and warm GET /status')
    const { baseline, warm } = await throughput(bench)
    note('GET /users/me against bare Fastify; the plugin\'s route with and without authenticate')
    const fastify = await againstFastify(bench, bare, plugin)
    note('cold GET /status against bare Fastify checking signatures, and raw signature checks in this process')
    const coldRun = (await pinned(profile, [server, verifying], async () => await cold(bench, warm.result.rps, verifying))).result
    const verifications = rawVerifications(bench.mint(), fixture.keys.signing, Math.min(profile.duration, 5))
    note('refresh grants, each token used once')
    const refreshRuns = [refreshRun(url, sqliteRefreshTokens)]
    const refreshUrls = [url]
    if (postgresServer !== undefined) {
      refreshRuns.push(refreshRun(postgresServer.url, postgresRefreshTokens))
      refreshUrls.push(postgresServer.url)
    }
    const [sqliteRefresh, postgresRefresh] = await alternate(bench, refreshRuns, refreshUrls)
    if (sqliteRefresh !== undefined) check(bench, 'POST /token refresh, SQLite', sqliteRefresh.result, [200])
    if (postgresRefresh !== undefined) check(bench, 'POST /token refresh, PostgreSQL', postgresRefresh.result, [200])
    note('GET /status with DPoP')
    const dpopRun = await dpop(bench, warm.result.rps)
    note('argon2.verify and POST /token')
    const { limit, logins } = await loginThroughput(bench)
    note('GET /status during a login flood')
    const isolated = await isolation(bench)
    note('POST /token at ten times the capacity')
    const overloaded = await overload(bench)
    note('wrong passwords and unknown users')
    const timed = await timing(bench)

    const probeIdle = ok(isolated.idle)
    const probeFlooded = ok(isolated.flooded)
    const refused = overloaded.result.statuses.get(503) ?? 0
    const refusedLatency = spread(overloaded.result.latencies.get(503) ?? [])
    const acceptedLatency = ok(overloaded.result)
    const figures = {
      standalone_vs_bare_ratio: fastify.standalone.result.rps / fastify.bare.result.rps,
      plugin_protected_ratio: fastify.guarded.result.rps / fastify.open.result.rps,
      cold_vs_verify_ratio: coldRun.run.result.rps / verifications,
      cold_bound_vs_verify_ratio: coldRun.bound.result.rps / verifications,
      cold_vs_bound_ratio: coldRun.run.result.rps / coldRun.bound.result.rps,
      refresh_postgres_vs_sqlite_ratio: postgresRefresh === undefined || sqliteRefresh === undefined ? null : postgresRefresh.result.rps / sqliteRefresh.result.rps,
      standalone_me_rps: fastify.standalone.result.rps,
      bare_fastify_rps: fastify.bare.result.rps,
      plugin_protected_rps: fastify.guarded.result.rps,
      plugin_open_rps: fastify.open.result.rps,
      raw_verifications_per_second: verifications,
      refresh_sqlite_rps: sqliteRefresh?.result.rps ?? null,
      refresh_postgres_rps: postgresRefresh?.result.rps ?? null,
      protected_warm_ratio: warm.result.rps / baseline.result.rps,
      protected_cold_ratio: coldRun.run.result.rps / baseline.result.rps,
      protected_dpop_ratio: dpopRun.run.result.rps / baseline.result.rps,
      token_vs_argon2_ratio: logins.result.rps / limit.rps,
      flood_p99_ratio: probeFlooded.p99 / probeIdle.p99,
      baseline_rps: baseline.result.rps,
      protected_warm_rps: warm.result.rps,
      protected_cold_rps: coldRun.run.result.rps,
      cold_bound_rps: coldRun.bound.result.rps,
      protected_dpop_rps: dpopRun.run.result.rps,
      argon2_verify_rps: limit.rps,
      token_rps: logins.result.rps,
      baseline_p99_ms: ok(baseline.result).p99,
      protected_warm_p99_ms: ok(warm.result).p99,
      protected_cold_p99_ms: ok(coldRun.run.result).p99,
      protected_dpop_p99_ms: ok(dpopRun.run.result).p99,
      argon2_verify_p50_ms: ok(limit).p50,
      token_p50_ms: ok(logins.result).p50,
      status_p99_ms: probeIdle.p99,
      status_flood_p99_ms: probeFlooded.p99,
      flood_token_rps: isolated.flood.rps,
      overload_rps: overloaded.result.rps,
      overload_200: overloaded.result.statuses.get(200) ?? 0,
      overload_503: refused,
      overload_503_with_retry_after: overloaded.retryAfter,
      overload_503_p99_ms: refusedLatency.p99,
      overload_200_p50_ms: acceptedLatency.p50,
      memory_before_overload_rss_bytes: overloaded.before.rss,
      memory_peak_rss_bytes: overloaded.after.maxRss,
      wrong_password_median_ms: timed.wrong.p50,
      unknown_user_median_ms: timed.unknown.p50,
      unknown_vs_wrong_ratio: timed.unknown.p50 / timed.wrong.p50
    }

    const rows: Row[] = [
      { scenario: 'bare Fastify, GET /users/me\'s body, no plugin', rps: fastify.bare.result.rps, cpu: busy(fastify.bare), latency: ok(fastify.bare.result) },
      {
        scenario: 'standalone GET /users/me, one token reused',
        rps: fastify.standalone.result.rps,
        cpu: busy(fastify.standalone),
        latency: ok(fastify.standalone.result),
        figure: `${figures.standalone_vs_bare_ratio.toFixed(2)} × bare Fastify`,
        target: '≥ 0.75',
        pass: figures.standalone_vs_bare_ratio >= 0.75
      },
      { scenario: 'plugin in a bare app, GET /open', rps: fastify.open.result.rps, cpu: busy(fastify.open), latency: ok(fastify.open.result) },
      {
        scenario: 'plugin in a bare app, GET /protected, one token',
        rps: fastify.guarded.result.rps,
        cpu: busy(fastify.guarded),
        latency: ok(fastify.guarded.result),
        figure: `${figures.plugin_protected_ratio.toFixed(2)} × the route open`,
        target: '≥ 0.90',
        pass: figures.plugin_protected_ratio >= 0.9
      },
      { scenario: `raw ${alg} signature checks, one core, in process`, rps: verifications },
      {
        scenario: 'GET /status, a new token each request (cold)',
        rps: coldRun.run.result.rps,
        cpu: busy(coldRun.run),
        latency: ok(coldRun.run.result),
        figure: `${figures.cold_vs_verify_ratio.toFixed(2)} × raw checks`,
        target: '≥ 0.60',
        pass: figures.cold_vs_verify_ratio >= 0.6
      },
      {
        scenario: 'bare Fastify checking each token\'s signature, nothing else',
        rps: coldRun.bound.result.rps,
        cpu: busy(coldRun.bound),
        latency: ok(coldRun.bound.result),
        figure: `${figures.cold_bound_vs_verify_ratio.toFixed(2)} × raw checks; cold is ${figures.cold_vs_bound_ratio.toFixed(2)} × it`,
        target: 'reported'
      },
      ...sqliteRefresh === undefined ? [] : [{ scenario: 'POST /token refresh, SQLite, each token once', rps: sqliteRefresh.result.rps, cpu: busy(sqliteRefresh), latency: ok(sqliteRefresh.result) }],
      ...postgresRefresh === undefined || figures.refresh_postgres_vs_sqlite_ratio === null
        ? [{ scenario: 'POST /token refresh, PostgreSQL', figure: 'not run: TEST_POSTGRES_URL is not set' }]
        : [{
            scenario: 'POST /token refresh, PostgreSQL, each token once',
            rps: postgresRefresh.result.rps,
            cpu: busy(postgresRefresh),
            latency: ok(postgresRefresh.result),
            figure: `${figures.refresh_postgres_vs_sqlite_ratio.toFixed(2)} × SQLite`,
            target: '≥ 0.80',
            pass: figures.refresh_postgres_vs_sqlite_ratio >= 0.8
          }],
      { scenario: 'GET /baseline, no authentication', rps: baseline.result.rps, cpu: busy(baseline), latency: ok(baseline.result) },
      {
        scenario: 'GET /status, one token reused (warm)',
        rps: warm.result.rps,
        cpu: busy(warm),
        latency: ok(warm.result),
        figure: `${figures.protected_warm_ratio.toFixed(2)} × baseline`,
        target: 'reported'
      },
      {
        scenario: 'GET /status, DPoP-bound token, a new proof each request',
        rps: dpopRun.run.result.rps,
        cpu: busy(dpopRun.run),
        latency: ok(dpopRun.run.result),
        figure: `${figures.protected_dpop_ratio.toFixed(2)} × baseline`,
        target: 'reported'
      },
      { scenario: `argon2.verify in process, ${HASHING.concurrency} at once`, rps: limit.rps, latency: ok(limit) },
      {
        scenario: `POST /token, correct password, ${LOGIN_CONNECTIONS} connections`,
        rps: logins.result.rps,
        cpu: busy(logins),
        latency: ok(logins.result),
        figure: `${figures.token_vs_argon2_ratio.toFixed(2)} × argon2.verify`,
        target: '≥ 0.95',
        pass: figures.token_vs_argon2_ratio >= 0.95
      },
      { scenario: `GET /status at ${PROBE_RATE} req/s, no flood`, rps: isolated.idle.rps, latency: probeIdle },
      {
        scenario: `GET /status at ${PROBE_RATE} req/s, login flood`,
        rps: isolated.flooded.rps,
        latency: probeFlooded,
        figure: `p99 ${figures.flood_p99_ratio.toFixed(2)} × no flood`,
        target: '≤ 2',
        pass: figures.flood_p99_ratio <= 2
      },
      { scenario: `  the flood: POST /token, ${FLOOD_CONNECTIONS} connections`, rps: isolated.flood.rps, latency: ok(isolated.flood) },
      {
        scenario: `POST /token, ${OVERLOAD_CONNECTIONS} connections (10 × capacity): 503s`,
        rps: overloaded.result.rps,
        latency: refusedLatency,
        figure: `${refused} × 503, ${overloaded.retryAfter} with Retry-After`,
        target: 'all with Retry-After, p99 < 200s’ p50',
        // A 503 that waited for a hashing slot would take as long as a login that got one.
        pass: refused > 0 && overloaded.retryAfter === refused && refusedLatency.p99 < acceptedLatency.p50
      },
      {
        scenario: '  the logins that got in: 200s',
        latency: acceptedLatency,
        figure: `${figures.overload_200} × 200`
      },
      {
        scenario: 'server memory (RSS)',
        figure: `peak ${mib(overloaded.after.maxRss)}; ${mib(overloaded.before.rss)} before the overload`,
        target: 'reported'
      },
      { scenario: 'POST /token, wrong password (existing user)', latency: timed.wrong },
      {
        scenario: 'POST /token, unknown user',
        latency: timed.unknown,
        figure: `median ${figures.unknown_vs_wrong_ratio.toFixed(2)} × wrong password`,
        target: '0.90 – 1.10',
        pass: Math.abs(figures.unknown_vs_wrong_ratio - 1) <= 0.1
      }
    ]

    const cpus = os.cpus()
    const parameters = {
      profile: profile.name,
      algorithm: alg,
      argon2: profile.argon2,
      hashing: { concurrency: HASHING.concurrency, queueLimit: HASHING.queueLimit },
      connections: { get: CONNECTIONS, logins: LOGIN_CONNECTIONS, flood: FLOOD_CONNECTIONS, overload: OVERLOAD_CONNECTIONS },
      probe: { rate: PROBE_RATE, inFlight: PROBE_IN_FLIGHT },
      seconds: { run: profile.duration, rounds: profile.rounds, warmup: profile.warmup, overload: profile.overload },
      coldTokens: coldRun.tokens,
      dpopProofs: dpopRun.proofs,
      timingSamples: profile.timingSamples,
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      loadAverage,
      totalSeconds: Math.round((performance.now() - began) / 1000)
    }
    const { argon2: a } = profile
    const lines = [
      table(rows),
      '',
      `- ${profile.name} profile; ${alg} access tokens; SQLite store; server in a child process at LOG_LEVEL=warn, autocannon in this one.`,
      `- ${profile.duration} s per scenario; compared runs (baseline and warm, argon2 and logins, probe without and with flood) ` +
        `alternate in ${profile.rounds} round${profile.rounds === 1 ? '' : 's'}; ${profile.warmup} s of warm-up on each GET route; overload ${profile.overload} s; ` +
        `cold: ${coldRun.tokens} distinct tokens, signed in ${coldRun.mintSeconds.toFixed(1)} s; DPoP: ${dpopRun.proofs} distinct ES256 proofs, each jti recorded in the SQLite store.`,
      `- Connections: ${CONNECTIONS} on GET routes, ${LOGIN_CONNECTIONS} for logins, ${FLOOD_CONNECTIONS} in the flood, ${OVERLOAD_CONNECTIONS} in the overload; ` +
        `the probe sends ${PROBE_RATE} req/s, at most ${PROBE_IN_FLIGHT} at once. Timing: ${profile.timingSamples} logins of each kind.`,
      `- argon2id memoryCost ${a.memoryCost} KiB, timeCost ${a.timeCost}, parallelism ${a.parallelism}; hashing concurrency ${HASHING.concurrency}, queue ${HASHING.queueLimit}.`,
      `- GET comparisons and the cold run: ${fastify.pinned ? 'servers pinned to core 0, autocannon to core 1 (taskset)' : `not pinned (${profile.pin ? 'no taskset, or one core' : `the ${profile.name} profile`})`}; bare Fastify, bare Fastify checking signatures and the plugin's app each in a process of their own; cold and its bound alternate in rounds; raw checks ${Math.min(profile.duration, 5)} s on this process's thread.`,
      `- Refreshes: ${REFRESH_TOKENS[profile.name]} distinct refresh tokens per store${postgresRefresh === undefined ? '' : ', SQLite and PostgreSQL alternating'}.`,
      `- Node ${process.version}, Fastify ${fastifyVersion()}, ${parameters.platform}, ${cpus.length} × ${parameters.cpuModel}, load average ${loadAverage.toFixed(2)} at start; ${parameters.totalSeconds} s in all.`,
      ...[...bench.warnings].map(([warning, count]) => `- WARNING ${warning}${count > 1 ? ` (${count} times)` : ''}`)
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    if (json) process.stdout.write(`${JSON.stringify({ ...figures, parameters, warnings: [...bench.warnings.keys()] })}\n`)
  } finally {
    for (const started of servers) await started.stop()
    if (postgres !== undefined) await dropSchema(postgres.url, postgres.schema)
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    alg: { type: 'string', default: 'ES256' }
  },
  strict: true
})
const alg = SIGNING_ALGORITHMS.find(known => known === values.alg)
if (alg === undefined) {
  note(`--alg must be one of ${SIGNING_ALGORITHMS.join(', ')}`)
  process.exit(2)
}
await run(PROFILES[values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'], alg, values.json)
