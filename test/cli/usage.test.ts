import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { freePort } from '../helper.js'
import { assertNoSecretPrinted, PASSWORD, cli, setup, tmp } from './helper.js'

// `oauth2-password` misused: help, unknown commands and options, bad arguments and configuration, a store it cannot reach, run as the compiled binary (test/cli/helper.ts).

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

t.test('an invalid username exits 2 before the database is touched', async t => {
  const { database, run } = setup()
  for (const name of ['a b', '', 'tab\there', 'x'.repeat(129)]) {
    const result = await run(['user', 'add', name, '--password-stdin'], { stdin: `${PASSWORD}\n` })
    t.equal(result.code, 2, JSON.stringify(name))
    t.equal(result.stdout, '')
    t.match(result.stderr, /^invalid username /)
  }
  const remove = await run(['user', 'remove', 'a b'])
  t.equal(remove.code, 2)
  t.notOk(fs.existsSync(database), 'no database was created')
})

t.test('an invalid scope exits 2', async t => {
  const { database, run } = setup()
  const result = await run(['user', 'add', 'alice', '--scopes', 'me "items"', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.equal(result.code, 2)
  t.match(result.stderr, /invalid scope/)
  t.notOk(fs.existsSync(database))
})

t.test('without --password-stdin on a stdin that is no terminal, exits 2', async t => {
  const { database, run } = setup()
  for (const args of [['user', 'add', 'alice'], ['user', 'passwd', 'alice']]) {
    const result = await run(args, { stdin: `${PASSWORD}\n` })
    t.equal(result.code, 2, args.join(' '))
    t.equal(result.stdout, '')
    t.match(result.stderr, /--password-stdin/)
  }
  t.notOk(fs.existsSync(database), 'nothing was written')
})

t.test('a bad configuration exits 2 with a message naming the variable', async t => {
  const { database, run } = setup()
  const result = await run(['user', 'add', 'alice', '--password-stdin'], { stdin: `${PASSWORD}\n`, env: { PASSWORD_MIN_LENGTH: '3' } })
  t.equal(result.code, 2)
  t.equal(result.stdout, '')
  t.match(result.stderr, /PASSWORD_MIN_LENGTH/)
  t.notOk(fs.existsSync(database))
  const list = await run(['user', 'list'], { env: { ARGON2_MEMORY_COST: 'lots' } })
  t.equal(list.code, 2)
  t.match(list.stderr, /ARGON2_MEMORY_COST/)
})

t.test('a store that cannot be opened exits 3, neither 1 nor 2', async t => {
  const file = path.join(tmp, 'a-file')
  fs.writeFileSync(file, '')
  const result = await cli(path.join(file, 'auth.db'), ['user', 'list'], {})
  t.equal(result.code, 3)
  t.equal(result.stdout, '')
  t.match(result.stderr, /^oauth2-password: /)
})

t.test('a PostgreSQL that does not answer exits 3, and the message says why', async t => {
  const port = await freePort()
  const result = await cli(path.join(tmp, 'unused.db'), ['user', 'list'], { env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/auth` } })
  t.equal(result.code, 3)
  t.equal(result.stdout, '')
  t.equal(result.stderr, `oauth2-password: The store did not answer; retry shortly: connect ECONNREFUSED 127.0.0.1:${port}\n`)
})

// Last, so that it sees the output of every run above.
t.test('no password ever appears on stdout or stderr', async t => {
  assertNoSecretPrinted(t, { runs: 20 })
})
