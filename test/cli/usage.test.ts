import fs from 'node:fs'
import t from 'tap'
import { assertNoSecretPrinted, PASSWORD, setup } from './helper.js'

// `oauth2-password` misused: help, unknown commands and options, missing and extra arguments, run as the
// compiled binary (test/cli/helper.ts). What it refuses in the arguments it understands is in refusals.test.ts.

t.test('--help prints the usage of every user command', async t => {
  const { run } = setup()
  for (const args of [['--help'], ['-h'], ['user', '--help']]) {
    const result = await run(args)
    t.equal(result.code, 0, args.join(' '))
    t.equal(result.stderr, '')
    for (const command of ['add', 'passwd', 'disable', 'enable', 'remove', 'list', 'verify-email', 'sessions', 'logout']) {
      t.match(result.stdout, `oauth2-password user ${command}`, `${args.join(' ')} shows user ${command}`)
    }
  }
  const add = await run(['user', 'add', '--help'])
  t.equal(add.code, 0)
  t.match(add.stdout, 'oauth2-password user add <username>')
  t.equal(add.stderr, '')
})

t.test('an unknown command exits 2', async t => {
  const { run } = setup()
  const group = await run(['frob'])
  t.equal(group.code, 2)
  t.match(group.stderr, /unknown command "frob"/)
  const command = await run(['user', 'frob', 'alice'])
  t.equal(command.code, 2)
  t.match(command.stderr, /unknown command "user frob"/)
  t.equal(command.stdout, '')
  const none = await run([])
  t.equal(none.code, 2)
  t.match(none.stderr, /Usage: oauth2-password/)
  const noCommand = await run(['user'])
  t.equal(noCommand.code, 2)
})

t.test('an unknown option exits 2', async t => {
  const { database, run } = setup()
  const add = await run(['user', 'add', 'alice', '--bogus', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.equal(add.code, 2)
  t.match(add.stderr, /--bogus/)
  t.match(add.stderr, /Usage: oauth2-password user add <username>/)
  const list = await run(['user', 'list', '--verbose'])
  t.equal(list.code, 2)
  t.match(list.stderr, /--verbose/)
  const remove = await run(['user', 'remove', 'alice', '--json'])
  t.equal(remove.code, 2, 'an option of another command is unknown too')
  t.notOk(fs.existsSync(database))
})

t.test('a missing or extra argument exits 2', async t => {
  const { run } = setup()
  for (const command of ['add', 'passwd', 'disable', 'enable', 'remove']) {
    const result = await run(['user', command])
    t.equal(result.code, 2, `user ${command}`)
    t.match(result.stderr, /missing <username>/)
  }
  const extra = await run(['user', 'remove', 'alice', 'bob'])
  t.equal(extra.code, 2)
  t.match(extra.stderr, /unexpected argument "bob"/)
  const list = await run(['user', 'list', 'alice'])
  t.equal(list.code, 2)
})

// Last, so that it sees the output of every run above.
t.test('no password ever appears on stdout or stderr', async t => {
  assertNoSecretPrinted(t, { runs: 18 })
})
