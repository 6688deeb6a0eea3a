import t from 'tap'
import { cheapHasher } from '../argon2.js'
import { assertNoSecretPrinted, passwords, PASSWORD, addUser, findUser, setup } from './helper.js'

// `oauth2-password user add` and `user passwd`: the passwords they refuse, and the ones they keep exactly,
// run as the compiled binary (test/cli/helper.ts).

const hasher = cheapHasher()

t.test('a password shorter than PASSWORD_MIN_LENGTH exits 2 and names the minimum', async t => {
  const { database, run } = setup()
  const short = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: 'abcde\n' })
  t.equal(short.code, 2)
  t.equal(short.stdout, '')
  t.match(short.stderr, /at least 15 characters/)
  t.equal(await findUser(database, 'alice'), null, 'no user was created')

  const raised = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: `${PASSWORD}\n`, env: { PASSWORD_MIN_LENGTH: '40' } })
  t.equal(raised.code, 2)
  t.match(raised.stderr, /at least 40 characters/)

  await addUser(run, 'bob')
  const passwd = await run(['user', 'passwd', 'bob', '--password-stdin'], { stdin: 'abcde' })
  t.equal(passwd.code, 2)
  t.match(passwd.stderr, /at least 15 characters/)
  t.ok(await hasher.verify((await findUser(database, 'bob'))?.passwordHash ?? '', PASSWORD), 'the old password still works')
})

t.test('a common password exits 2, says so without repeating it, and changes nothing', async t => {
  const { database, run } = setup()
  const common = '1234567890Qwerty'
  const added = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: `${common}\n` })
  t.equal(added.code, 2)
  t.equal(added.stdout, '')
  t.equal(added.stderr, 'password is on a list of common passwords found in data breaches: choose another\n')
  t.equal(await findUser(database, 'alice'), null, 'no user was created')

  await addUser(run, 'bob')
  const passwd = await run(['user', 'passwd', 'bob', '--password-stdin'], { stdin: common })
  t.equal(passwd.code, 2)
  t.match(passwd.stderr, /list of common passwords/)
  t.ok(await hasher.verify((await findUser(database, 'bob'))?.passwordHash ?? '', PASSWORD), 'the old password still works')
})

t.test('a password from stdin is kept exactly, less one final line break', async t => {
  const { database, run } = setup()
  const cases: Array<{ name: string, stdin: string, password: string, not: string }> = [
    { name: 'spaces', stdin: '   spaces around it, kept   \n', password: '   spaces around it, kept   ', not: 'spaces around it, kept' },
    { name: 'no-newline', stdin: '\tno line break at all\t', password: '\tno line break at all\t', not: 'no line break at all' },
    { name: 'crlf', stdin: 'a windows line break\r\n', password: 'a windows line break', not: 'a windows line break\r' },
    { name: 'two-newlines', stdin: 'two line breaks, one kept\n\n', password: 'two line breaks, one kept\n', not: 'two line breaks, one kept' },
    { name: 'unicode', stdin: 'pässwörd with ümlauts 🔑\n', password: 'pässwörd with ümlauts 🔑', not: 'passwort with umlauts' }
  ]
  for (const { name, stdin, password, not } of cases) {
    const result = await run(['user', 'add', name, '--password-stdin'], { stdin })
    t.equal(result.code, 0, `${name}: ${result.stderr}`)
    passwords.add(password)
    const hash = (await findUser(database, name))?.passwordHash ?? ''
    t.ok(await hasher.verify(hash, password), `${name}: the exact password verifies`)
    t.notOk(await hasher.verify(hash, not), `${name}: an altered one does not`)
  }
  const long = 'x'.repeat(1024)
  t.equal((await run(['user', 'add', 'long', '--password-stdin'], { stdin: long })).code, 0, '1024 characters are accepted')
  t.ok(await hasher.verify((await findUser(database, 'long'))?.passwordHash ?? '', long), 'and not truncated')
  t.notOk(await hasher.verify((await findUser(database, 'long'))?.passwordHash ?? '', long.slice(0, -1)))
  const tooLong = await run(['user', 'add', 'toolong', '--password-stdin'], { stdin: 'x'.repeat(1025) })
  t.equal(tooLong.code, 2, '1025 characters are refused, not truncated')
  t.match(tooLong.stderr, /at most 1024 characters/)
})

// Last, so that it sees the output of every run above.
t.test('no password ever appears on stdout or stderr', async t => {
  assertNoSecretPrinted(t, { runs: 14 })
})
