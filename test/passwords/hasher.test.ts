import t from 'tap'
import {
  HashingSaturatedError, OWASP_ARGON2, PASSWORD_MAX_LENGTH, PasswordHasher, passwordProblem
} from '../../passwords/hasher.js'
import { CHEAP_ARGON2 } from '../argon2.js'
import { loadConfig } from '../../config/index.js'

const PASSWORD = 'correct horse battery staple'

/** The cost parameters of an argon2 PHC string, whatever order the library writes them in. */
function argon2Parameters (hash: string): Record<string, number> {
  const segment = hash.split('$')[3] ?? ''
  return Object.fromEntries(segment.split(',').map(pair => {
    const [name = '', value = ''] = pair.split('=')
    return [name, Number(value)]
  }))
}

t.test('passwordProblem', async t => {
  const min = loadConfig({}).PASSWORD_MIN_LENGTH
  t.equal(min, 15, 'the default minimum is 15')
  const cases: Array<[string, string, string | null]> = [
    ['14 characters', 'a'.repeat(14), 'password must be at least 15 characters'],
    ['15 characters', 'a'.repeat(15), null],
    ['1024 characters', 'a'.repeat(1024), null],
    ['1025 characters', 'a'.repeat(1025), 'password must be at most 1024 characters'],
    ['14 emoji: 28 UTF-16 units, still 14 characters', '😀'.repeat(14), 'password must be at least 15 characters'],
    ['15 emoji', '😀'.repeat(15), null],
    ['1024 emoji: 2048 UTF-16 units, 1024 characters', '😀'.repeat(1024), null],
    ['1025 emoji', '😀'.repeat(1025), 'password must be at most 1024 characters'],
    ['spaces count', ' '.repeat(15), null],
    ['empty', '', 'password must be at least 15 characters']
  ]
  for (const [name, password, problem] of cases) {
    t.equal(passwordProblem(password, min), problem, name)
  }
  t.equal(PASSWORD_MAX_LENGTH, 1024)
  t.equal(passwordProblem('a'.repeat(8), 8), 'password is on a list of common passwords found in data breaches: choose another')
  t.equal(passwordProblem('e7k#p2q!', 8), null, 'the minimum is a parameter')
  t.equal(passwordProblem('a'.repeat(7), 8), 'password must be at least 8 characters')
})

t.test('hash and verify', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2 })
  const hash = await hasher.hash(PASSWORD)
  t.match(hash, /^\$argon2id\$v=19\$/)
  t.same(argon2Parameters(hash), { m: 1024, t: 1, p: 1 })
  t.not(await hasher.hash(PASSWORD), hash, 'salted: two hashes of one password differ')
  t.equal(await hasher.verify(hash, PASSWORD), true)
  t.equal(await hasher.verify(hash, `${PASSWORD} `), false)
  t.equal(await hasher.verify(hash, PASSWORD.toUpperCase()), false, 'passwords are case-sensitive')
  t.equal(await hasher.verify(hash, ''), false)
})

t.test('passwords are compared after NFKC', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2 })
  t.equal(await hasher.verify(await hasher.hash('ｃｏｒｒｅｃｔ　ｈｏｒｓｅ'), 'correct horse'), true, 'full-width and ideographic space')
  t.equal(await hasher.verify(await hasher.hash('café au lait!'), 'cafe\u0301 au lait!'), true, 'composed and decomposed')
})

t.test('passwords are never truncated', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2 })
  const prefix = 'p'.repeat(1000)
  const hash = await hasher.hash(`${prefix}-one`)
  t.equal(await hasher.verify(hash, `${prefix}-one`), true)
  t.equal(await hasher.verify(hash, `${prefix}-two`), false, 'two passwords sharing their first 1000 characters differ')
  t.equal(await hasher.verify(hash, prefix), false)
  const long = '😀'.repeat(PASSWORD_MAX_LENGTH)
  const longHash = await hasher.hash(long)
  t.equal(await hasher.verify(longHash, `${'😀'.repeat(PASSWORD_MAX_LENGTH - 1)}😁`), false, 'the last character of the longest password counts')
})

t.test('the default parameters are OWASP\'s: m=19456, t=2, p=1', async t => {
  t.same(OWASP_ARGON2, { memoryCost: 19456, timeCost: 2, parallelism: 1 })
  const hasher = new PasswordHasher()
  t.same(hasher.parameters, OWASP_ARGON2)
  const hash = await hasher.hash(PASSWORD)
  t.match(hash, /^\$argon2id\$v=19\$/)
  t.same(argon2Parameters(hash), { m: 19456, t: 2, p: 1 })
  t.equal(await hasher.verify(hash, PASSWORD), true)
  t.equal(hasher.needsRehash(hash), false)
})

t.test('needsRehash', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2 })
  const current = await hasher.hash(PASSWORD)
  t.equal(hasher.needsRehash(current), false, 'made with the current parameters')

  const others = [
    { memoryCost: 2048, timeCost: 1, parallelism: 1 },
    { memoryCost: 1024, timeCost: 2, parallelism: 1 },
    { memoryCost: 1024, timeCost: 1, parallelism: 2 }
  ]
  for (const argon2 of others) {
    const old = await new PasswordHasher({ argon2 }).hash(PASSWORD)
    t.equal(hasher.needsRehash(old), true, JSON.stringify(argon2))
    t.equal(await hasher.verify(old, PASSWORD), true, 'an old hash still verifies')
  }
  t.equal(hasher.needsRehash('$2b$10$abcdefghijklmnopqrstuuMMQ1S0fZ9JaJxZl3gHLOr8M5pfRrX4a'), true, 'another algorithm (bcrypt)')
  t.equal(hasher.needsRehash(current.replace('$argon2id$', '$argon2i$')), true, 'another argon2 variant')
})

t.test('verifyDummy spends a verification and always answers false', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2 })
  t.equal(await hasher.verifyDummy(PASSWORD), false)
  t.equal(await hasher.verifyDummy(''), false)
  t.equal(await hasher.verifyDummy('anything at all, any length'), false)
})

t.test('the queue is bounded: past concurrency + queueLimit, hashing is refused at once', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2, concurrency: 1, queueLimit: 1 })
  t.equal(hasher.concurrency, 1)
  t.equal(hasher.queueLimit, 1)
  const running = hasher.hash(PASSWORD)
  const queued = hasher.hash(PASSWORD)
  const refused = hasher.hash(PASSWORD)
  await t.rejects(refused, HashingSaturatedError)
  await t.rejects(hasher.verify('$argon2id$whatever', PASSWORD), { code: 'HASHING_SATURATED', name: 'HashingSaturatedError' })
  const [first, second] = await Promise.all([running, queued])
  t.match(first, /^\$argon2id\$/)
  t.match(second, /^\$argon2id\$/)

  // Once the burst is over, there is room again, and the slots were all given back.
  const again = await Promise.all([hasher.hash(PASSWORD), hasher.verify(first, PASSWORD)])
  t.match(again, [/^\$argon2id\$/, true])
})

t.test('a queue limit of zero refuses anything past concurrency', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2, concurrency: 2, queueLimit: 0 })
  const results = await Promise.allSettled([hasher.hash(PASSWORD), hasher.hash(PASSWORD), hasher.hash(PASSWORD)])
  t.same(results.map(result => result.status), ['fulfilled', 'fulfilled', 'rejected'])
})

t.test('a failing hash gives its slot back', async t => {
  const hasher = new PasswordHasher({ argon2: CHEAP_ARGON2, concurrency: 1, queueLimit: 0 })
  await t.rejects(hasher.verify('not a PHC string', PASSWORD))
  t.equal(await hasher.verify(await hasher.hash(PASSWORD), PASSWORD), true)
})
