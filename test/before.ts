import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// tap's `before` (package.json), run once before any test file, by `npm test` and by
// `npx tap test/x.test.ts` alike. The tests load the TypeScript sources, but some run what `npm run
// build` made of them: the server, CLI and benchmark they spawn, and the SQLite store's worker
// thread. So dist/ is rebuilt here whenever a source is newer than everything in it: no test runs
// yesterday's build. After `npm run build` (as in npm test's pretest) this only compares times.

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIST = path.join(ROOT, 'dist')

/** The newest modification time of the files under `entry` (the entry itself when it is a file), 0 when there are none. */
function newest (entry: string): number {
  let stat: fs.Stats
  try {
    stat = fs.statSync(entry)
  } catch {
    return 0
  }
  if (!stat.isDirectory()) return stat.mtimeMs
  let latest = 0
  for (const name of fs.readdirSync(entry)) {
    if (name === 'node_modules') continue
    latest = Math.max(latest, newest(path.join(entry, name)))
  }
  return latest
}

const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] }
// What the build compiles, its data files (passwords/) and the build's own configuration.
const sources = Math.max(...[...tsconfig.include, 'tsconfig.json', 'package.json'].map(entry => newest(path.join(ROOT, entry))))

if (newest(DIST) < sources) {
  process.stderr.write('dist/ is older than the sources: npm run build\n')
  // Not under the test runner's loaders and coverage: tsc is no code of ours.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(NODE_OPTIONS|NODE_V8_COVERAGE|_TAPJS)/.test(name)))
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, env, stdio: ['ignore', 2, 2] })
}
