import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { DIST } from '../paths.js'

// What V8 recorded for the literal in process.nextTick after a garbage collection that found no
// queued tick alive, in a fresh process, with and without runtime/tick-objects.js imported first
// (dist/, rebuilt by test/before.ts when a source is newer): one state per key of the literal, from
// the feedback that %DebugPrint lists. It prints through C's stdio, which drops what a non-blocking
// pipe cannot take at once, so the child writes to a file.
function literalFeedback (keepTicks: boolean): string[] {
  const module = pathToFileURL(join(DIST, 'runtime', 'tick-objects.js')).href
  const script = `${keepTicks ? `import ${JSON.stringify(module)};` : ''}
import { setImmediate as turn } from 'node:timers/promises';
// Enough ticks for V8 to give nextTick its feedback, then a collection with none queued.
for (let i = 0; i < 200; i++) process.nextTick(() => {});
await turn();
globalThis.gc();
for (let i = 0; i < 200; i++) process.nextTick(() => {});
await turn();
%DebugPrint(process.nextTick);`
  const directory = mkdtempSync(join(tmpdir(), 'tick-objects-'))
  try {
    const file = join(directory, 'out')
    const out = openSync(file, 'w')
    try {
      // Through env(1), which drops what tap adds to every process a test spawns (NODE_OPTIONS with
      // its coverage hook, NODE_V8_COVERAGE): code loaded before the module defeats it.
      const node = [process.execPath, '--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', script]
      execFileSync('env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', ...node], { stdio: ['ignore', out, 'inherit'] })
    } finally {
      closeSync(out)
    }
    return readFileSync(file, 'utf8').split('\n').flatMap(line => /DefineKeyedOwnPropertyInLiteral (\w+)/.exec(line)?.[1] ?? [])
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

t.test('without a kept tick, a collection leaves V8 defining the keys of every later tick the slow way', async t => {
  const feedback = literalFeedback(false)
  t.ok(feedback.includes('MEGAMORPHIC'), `some key went MEGAMORPHIC (${feedback.join(', ')}); if none does, this Node no longer needs runtime/tick-objects.ts`)
})

t.test('with runtime/tick-objects.js imported first, every key of the literal keeps one hidden class', async t => {
  const feedback = literalFeedback(true)
  t.equal(feedback.length, 4, 'a state per key of { [async_id_symbol], [trigger_async_id_symbol], callback, args }')
  t.strictSame(new Set(feedback), new Set(['MONOMORPHIC']))
})
