import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { freePort } from '../helper.js'
import { assertNoSecretPrinted, PASSWORD, cli, setup, tmp } from './helper.js'

// What `oauth2-password` refuses before it writes anything: invalid usernames and scopes, a password
// not from stdin, a bad configuration, a store it cannot reach; run as the compiled binary (test/cli/helper.ts).

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
  assertNoSecretPrinted(t, { runs: 12 })
})
