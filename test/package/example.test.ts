import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ROOT } from '../paths.js'

// examples/host/test.sh: the package packed (prepack builds), its tarball installed into the
// example host from the registry like any dependency, the host type-checked with skipLibCheck
// false, and its tap tests run. It needs the npm registry: without it the test says so and skips.

const run = promisify(execFile)
const SCRIPT = path.join(ROOT, 'examples', 'host', 'test.sh')

// Packing, installing a few hundred packages and type-checking take minutes on a loaded machine.
t.setTimeout(15 * 60_000)

const registry = await run('npm', ['ping'], { timeout: 30_000 }).then(() => null, () => 'the npm registry cannot be reached: the example host is not installed')

t.test('the example host installs the packed package, type-checks and passes its tests', { skip: registry ?? false }, async t => {
  // Without this runner's variables (TAP_*, NODE_OPTIONS), so that the example's tap runs as a top-level run of its own.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(TAP|_TAPJS|NODE_OPTIONS)/.test(name)))
  const { stdout } = await run('bash', [SCRIPT], { maxBuffer: 64 * 1024 * 1024, env }).catch(
    (error: { stdout: string, stderr: string }) => {
      throw new Error(`examples/host/test.sh failed:\n${error.stdout}\n${error.stderr}`)
    })
  t.match(stdout, /^packed fastify-oauth2-password-[0-9.]+\.tgz$/m, 'the package was packed')
  t.match(stdout, /^type-checked: /m, 'the host type-checked')
  t.match(stdout, /^# \{ total: \d+, pass: \d+ \}$/m, 'and its tests passed, none failed')
})
