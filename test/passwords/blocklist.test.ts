import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { SortedLines, blocklistForm, commonPasswords, isCommonPassword } from '../../passwords/blocklist.js'
import { passwordProblem } from '../../passwords/hasher.js'
import { DIST, ROOT } from '../paths.js'

const FILE = path.join(ROOT, 'passwords', 'common-passwords.txt')
const REFUSAL = 'password is on a list of common passwords found in data breaches: choose another'

t.test('the shipped list: at least 100,000 distinct passwords of 8 or more characters, in compared form, sorted', async t => {
  const lines = readFileSync(FILE, 'utf8').split('\n')
  t.equal(lines.pop(), '', 'every line ends in a line break')
  t.ok(lines.length >= 100_000, `${lines.length} passwords`)
  let previous = ''
  const wrong: string[] = []
  for (const line of lines) {
    if (!(line > previous) || blocklistForm(line) !== line || [...line].length < 8) wrong.push(line)
    previous = line
  }
  t.strictSame(wrong.slice(0, 5), [], 'each strictly after the one before, in NFKC and lower case, of at least 8 characters')
  t.equal(commonPasswords().size, lines.length, 'the loaded list has every line')
  for (const line of [lines[0]!, lines[lines.length >> 1]!, lines[lines.length - 1]!]) t.ok(commonPasswords().has(line), `finds ${line}`)
})

t.test('the list of the build is the list of the sources', async t => {
  const built = path.join(DIST, 'passwords', 'common-passwords.txt')
  t.ok(readFileSync(built).equals(readFileSync(FILE)), 'npm run build copies it beside the compiled module')
})

t.test('SortedLines finds exactly its lines', async t => {
  const lines = new SortedLines('b\nbb\nd\nf\n')
  t.equal(lines.size, 4)
  for (const present of ['b', 'bb', 'd', 'f']) t.ok(lines.has(present), present)
  for (const absent of ['', 'a', 'ba', 'bbb', 'c', 'e', 'g', 'b\n', 'f\n']) t.notOk(lines.has(absent), JSON.stringify(absent))
  t.notOk(new SortedLines('').has(''), 'an empty list has nothing')
  t.equal(new SortedLines('').size, 0)
})

t.test('a password is compared in NFKC and lower case', async t => {
  t.ok(isCommonPassword('password123'))
  t.ok(isCommonPassword('PassWord123'), 'capitals')
  t.ok(isCommonPassword('ｐａｓｓｗｏｒｄ１２３'), 'full-width forms')
  t.notOk(isCommonPassword('password123 '), 'a space is a character like any other')
  t.notOk(isCommonPassword('correct horse battery staple'))
})

t.test('the policy names the rule that failed, in order, and never the password', async t => {
  t.equal(passwordProblem('password1', 15), 'password must be at least 15 characters', 'length first')
  t.equal(passwordProblem('password1', 8), REFUSAL)
  t.equal(passwordProblem('QWERTYUIOP12345', 8), REFUSAL)
  t.equal(passwordProblem('1Q2W3E4R1Q2W3E4R', 15), REFUSAL, 'a long one too')
  t.equal(passwordProblem('correct horse battery staple', 15), null)
})

t.test('a check takes microseconds: 100,000 of them in well under a second', async t => {
  commonPasswords()
  const candidates = ['password123', 'correct horse battery staple', 'zzzzzzzzzzzz', '!qaz1qaz', 'QWERTYUIOP12345', 'nobody would pick this one']
  let found = 0
  const start = performance.now()
  for (let index = 0; index < 100_000; index++) if (isCommonPassword(candidates[index % candidates.length]!)) found++
  const ms = performance.now() - start
  // About 1 µs each here; a bound 10 times higher leaves room for a loaded machine.
  t.ok(ms < 1000, `100,000 checks took ${ms.toFixed(0)} ms`)
  t.strictSame(candidates.map(isCommonPassword), [true, false, true, true, true, false])
  t.equal(found, 16_666 * 4 + 3, 'every check answered as the list says')
})
