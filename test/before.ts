import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { DIST, ROOT } from './paths.js'

// tap's `before` (package.json), run once before any test file, by `npm test` and by
// `npx tap dist/test/x.test.js` alike. The tests run compiled, from dist/test/, and so do the
// server, CLI and benchmark they start as processes, and the SQLite store's worker thread. So dist/
// is rebuilt here whenever a source or a test is newer than the last build of both: no test runs
// yesterday's build. After `npm run build:test` (as in npm test's pretest) this only compares times.

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

const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.test.json'), 'utf8')) as { include: string[] }
// What the build compiles (sources and tests), its data files (passwords/) and the build's own configuration.
const sources = Math.max(...[...tsconfig.include, 'tsconfig.json', 'tsconfig.test.json', 'package.json'].map(entry => newest(path.join(ROOT, entry))))

// Only `npm run build:test` writes dist/test/, all of it: its newest file dates the last full build.
// A later `npm run build` (sources only) does not make a changed test current.
if (newest(path.join(DIST, 'test')) < sources) {
  process.stderr.write('dist/ is older than the sources: npm run build:test\n')
  // Not under the test runner's loaders and coverage: tsc is no code of ours.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(NODE_OPTIONS|NODE_V8_COVERAGE|_TAPJS)/.test(name)))
  execFileSync('npm', ['run', 'build:test'], { cwd: ROOT, env, stdio: ['ignore', 2, 2] })
}
