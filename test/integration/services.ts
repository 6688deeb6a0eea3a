import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { freePort } from '../helper.js'
import { kill } from './helper.js'

// Services of the tests' own, for the tests that stop them: the machine's PostgreSQL and Redis are
// shared with every other test, and are never stopped. Each one here runs on a free port, and is
// stopped and removed in teardown however the test ends.

/** Bounds every wait for a service to start or stop. */
const DEADLINE_MS = 30_000

/**
 * What is left to undo if the test process ends before its teardowns run (a test that timed out, a
 * crash): done synchronously, as the process exits. Each teardown takes its own entry off.
 */
const leftovers = new Set<() => void>()
process.on('exit', () => {
  // Last registered first, as teardowns run: a server is killed before its directory is removed.
  for (const undo of [...leftovers].reverse()) {
    try {
      undo()
    } catch {
      // Best effort: the process is exiting, and the next entry must still run.
    }
  }
})

/** Registers `undo` as a teardown of `t`, and also for the process's exit, whichever comes first. */
function cleanup (t: Test, undo: () => void): void {
  leftovers.add(undo)
  t.teardown(() => {
    leftovers.delete(undo)
    undo()
  })
}

/** Resolves once `child` writes a line matching `ready` on stdout or stderr; rejects if it exits first. */
async function readiness (child: ChildProcess, ready: RegExp, output: () => string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { settle(new Error(`not ready after ${DEADLINE_MS} ms: ${output()}`)) }, DEADLINE_MS)
    const check = (): void => { if (ready.test(output())) settle() }
    const exited = (code: number | null): void => { settle(new Error(`exited with ${code} before it was ready: ${output()}`)) }
    function settle (error?: Error): void {
      clearTimeout(timer)
      child.stdout?.off('data', check)
      child.stderr?.off('data', check)
      child.off('exit', exited)
      if (error === undefined) resolve()
      else reject(error)
    }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', exited)
    check()
  })
}

/** Starts `command`, collecting what it writes; resolves once it says it is `ready`. */
async function service (command: string, args: string[], ready: RegExp, options: { uid?: number, gid?: number } = {}) {
  const child = spawn(command, args, { ...options, env: { PATH: process.env.PATH ?? '', LANG: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => { output += chunk.toString() }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  await readiness(child, ready, () => output)
  return child
}

/** Sends `signal` and resolves once the child has exited. */
async function stop (child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  await exited
}

export interface Postgres {
  /** A URL for the `postgres` database, as the superuser `postgres` (trust authentication). */
  url: string
  /** Smart shutdown is never used: `fast` ends every session at once, `immediate` is a crash. */
  stop: (mode: 'fast' | 'immediate') => Promise<void>
  /** Starts the stopped server on the same data and port; resolves once it accepts connections. */
  start: () => Promise<void>
}

/** Where the PostgreSQL server binaries are, the newest version first; null when none is installed. */
function postgresBin (): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root).filter(version => existsSync(join(root, version, 'bin', 'initdb')))
  versions.sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? null : join(root, versions[0], 'bin')
}

/** Why `postgresCluster` cannot run here, or false. */
export function postgresClusterSkip (): string | false {
  if (postgresBin() === null) return 'no PostgreSQL server binaries in /usr/lib/postgresql/*/bin'
  if (process.getuid?.() !== 0) return 'a throw-away PostgreSQL cluster is started as the postgres user, which needs root'
  return false
}

/**
 * A throw-away PostgreSQL cluster: initdb in a temporary directory, then `postgres` on a free port,
 * both as the `postgres` user (PostgreSQL refuses to run as root). fsync is off: the tests crash the
 * server, never the machine.
 */
export async function postgresCluster (t: Test): Promise<Postgres> {
  const bin = postgresBin()
  if (bin === null) throw new Error('no PostgreSQL server binaries')
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
  const dir = mkdtempSync(join(tmpdir(), 'failures-pg-'))
  cleanup(t, () => rmSync(dir, { recursive: true, force: true }))
  chownSync(dir, uid, gid)
  const data = join(dir, 'data')
  await promisify(execFile)(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    uid, gid, env: { PATH: process.env.PATH ?? '', LANG: 'C' }
  })
  const port = await freePort()
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=50']
  let server: ChildProcess | null = null
  const start = async (): Promise<void> => {
    server = await service(join(bin, 'postgres'), args, /database system is ready to accept connections/, { uid, gid })
  }
  // Registered after the directory's removal, so run before it.
  leftovers.add(() => server?.kill('SIGKILL'))
  t.teardown(async () => { if (server !== null) await kill(server) })
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop: async mode => {
      if (server !== null) await stop(server, mode === 'fast' ? 'SIGINT' : 'SIGQUIT')
    }
  }
}

export interface RedisServer {
  url: string
  stop: () => Promise<void>
  /** Starts the stopped server again on the same port; resolves once it accepts connections. */
  start: () => Promise<void>
}

/** A `redis-server` of the test's own, on a free port, keeping nothing on disk. */
export async function redisServer (t: Test): Promise<RedisServer> {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  let server: ChildProcess | null = null
  const start = async (): Promise<void> => {
    server = await service('redis-server', args, /Ready to accept connections/)
  }
  leftovers.add(() => server?.kill('SIGKILL'))
  t.teardown(async () => { if (server !== null) await kill(server) })
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    stop: async () => { if (server !== null) await stop(server, 'SIGTERM') }
  }
}

/** Why `tmpfs` cannot run here, or false: mounting needs root, and a system that lets it. */
export function tmpfsSkip (): string | false {
  const dir = mkdtempSync(join(tmpdir(), 'failures-tmpfs-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' })
    execFileSync('umount', [dir], { stdio: 'ignore' })
    return false
  } catch {
    return 'cannot mount a tmpfs here (it needs root, and a system that allows it)'
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A tmpfs of `size` bytes, mounted on a new directory; unmounted and removed in teardown. */
export function tmpfs (t: Test, size: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'failures-tmpfs-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir])
  cleanup(t, () => {
    // Lazy: a process the test started may still have a file open there as it exits.
    execFileSync('umount', ['--lazy', dir])
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}
