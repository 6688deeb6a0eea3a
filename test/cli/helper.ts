import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { openStore, type Store, type User } from '../../store/index.js'
import { TEST_ARGON2 } from '../argon2.js'
import { CLI } from '../paths.js'

// The CLI tests' runs of the compiled binary (dist/, rebuilt by test/before.ts when a source is newer),
// as an administrator would run it, each on a SQLite database of its own. They are spread over
// several files, which tap runs in parallel: each run is a process that hashes, and about eighty of
// them in one file took over a hundred seconds on a loaded 2-core machine.
//
// Under tap each run also loads the CLI through tap's coverage loader, whose module hooks cost
// about a second a run on top of the CLI's 0.4 s: a file of twenty runs took 38 s, and one of
// twenty-two 47 s, beside the rest of the suite on a 2-core VM. Four minutes per file keeps a loaded
// machine far from the limit.
t.setTimeout(4 * 60_000)

export const PASSWORD = 'correct horse battery staple'
export const NEW_PASSWORD = 'a brand new passphrase, please'

export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

export interface Result {
  code: number | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  stdin?: string
  env?: Record<string, string>
}

/** Every stdout and stderr of every run, for the final check that no password was ever written. */
export const outputs: string[] = []
/** Every password given to the CLI. */
export const passwords = new Set<string>()

let databases = 0

/** A fresh database for one test, and a `run` that points the CLI at it. */
export function setup (): { database: string, run: (args: string[], options?: RunOptions) => Promise<Result> } {
  const database = path.join(tmp, `db-${++databases}`, 'auth.db')
  return { database, run: (args, options = {}) => cli(database, args, options) }
}

export async function cli (database: string, args: string[], options: RunOptions): Promise<Result> {
  if (options.stdin !== undefined) passwords.add(options.stdin.replace(/\r?\n$/, ''))
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: tmp,
    // Only these variables: none of the test runner's loaders, nothing from the developer's shell.
    env: { DATABASE_URL: `sqlite:${database}`, ...TEST_ARGON2, ...options.env }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  // The CLI may exit without reading stdin (a taken username, a usage error): that EPIPE is expected.
  child.stdin.on('error', () => {})
  child.stdin.end(options.stdin ?? '')
  const [code] = await once(child, 'close') as [number | null]
  outputs.push(stdout, stderr)
  return { code, stdout, stderr }
}

export async function inspect<T> (database: string, look: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(`sqlite:${database}`)
  try {
    return await look(store)
  } finally {
    await store.close()
  }
}

export async function findUser (database: string, username: string): Promise<User | null> {
  return await inspect(database, store => store.findUserByUsername(username))
}

export async function addUser (
  run: (args: string[], options?: RunOptions) => Promise<Result>,
  username: string,
  extra: string[] = [],
  password = PASSWORD
): Promise<void> {
  const result = await run(['user', 'add', username, ...extra, '--password-stdin'], { stdin: `${password}\n` })
  if (result.code !== 0) throw new Error(`user add ${username} failed: ${result.code} ${result.stderr}`)
}

/** The last test of each file: no password or secret given to a run of that file appears in any run's output. */
export function assertNoSecretPrinted (t: Test, options: { runs: number, secrets?: string[] }): void {
  t.ok(outputs.length >= 2 * options.runs, 'the runs above were recorded')
  for (const password of [...passwords, ...options.secrets ?? []]) {
    t.notOk(outputs.some(output => output.includes(password)), `${JSON.stringify(password.slice(0, 12))}… is never printed`)
  }
}
