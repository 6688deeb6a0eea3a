import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { DIST } from './paths.js'

// Keeps `npm run bench` working: the compiled script in its smoke profile (a few seconds, cheap
// argon2). These are benchmarks, not tests: nothing here asserts how fast anything is.
const BENCH = path.join(DIST, 'bench', 'index.js')

/** Three quarters of tap's timeout: the smoke run takes 10 to 30 s on a loaded machine, and a run that hangs is stopped before tap's timeout hides where. */
const DEADLINE = 90_000

const RATIOS = ['standalone_vs_bare_ratio', 'plugin_protected_ratio', 'cold_vs_verify_ratio', 'cold_bound_vs_verify_ratio', 'cold_vs_bound_ratio', 'protected_warm_ratio', 'protected_dpop_ratio', 'token_vs_argon2_ratio', 'flood_p99_ratio']

/** Runs node with `args`, killed past `deadline` ms, with only PATH: none of the test runner's loaders, nothing from the developer's shell. */
async function node (args: string[], deadline: number): Promise<{ code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timer = setTimeout(() => child.kill('SIGKILL'), deadline)
  const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  return { code, signal, stdout, stderr }
}

t.test('npm run bench -- --smoke --json ends with one JSON object of figures', async t => {
  const { code, signal, stdout, stderr } = await node([BENCH, '--smoke', '--json'], DEADLINE)
  // A run that hangs says in which scenario: its last line on stderr.
  t.equal(signal, null, `ends within ${DEADLINE / 1000} s`, { stderr: stderr.split('\n').slice(-5).join('\n') })
  t.equal(code, 0, 'exits with 0', { stderr })

  const lines = stdout.trimEnd().split('\n')
  t.match(lines[0], /^\| scenario +\| req\/s/, 'prints the table first')
  let figures: Record<string, unknown> = {}
  t.doesNotThrow(() => { figures = JSON.parse(lines.at(-1) ?? '') }, 'the last line is JSON')
  for (const key of RATIOS) {
    const value = figures[key]
    t.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `${key} is a positive number`, { value })
  }
  t.match(figures.parameters, { profile: 'smoke', node: process.version }, 'with the parameters')
})

t.test('the DPoP proofs of the benchmark never stall the thread that makes them', async t => {
  // A hundred keys of a hundred proofs each. Made as they were before (the JWK exported for each
  // proof, of a key straight from generateKeyPairSync), Node 20 deadlocked here within seconds,
  // every run; the full benchmark stalled in some runs.
  const module = JSON.stringify(pathToFileURL(path.join(DIST, 'bench', 'dpop.js')).href)
  const script = `import { dpopKey, dpopProof } from ${module}
let proofs = 0
for (let k = 0; k < 100; k++) {
  const key = dpopKey()
  for (let i = 0; i < 100; i++) proofs += dpopProof(key, 'GET', 'http://127.0.0.1/status', 'token').split('.').length === 3 ? 1 : 0
}
console.log(proofs)`
  const { code, signal, stdout, stderr } = await node(['--input-type=module', '--eval', script], 30_000)
  t.equal(signal, null, 'ends within 30 s')
  t.equal(code, 0, 'exits with 0', { stderr })
  t.equal(stdout.trim(), '10000', 'with every proof made')
})
