import t from 'tap'
import { cheapHasher } from '../argon2.js'
import { assertNoSecretPrinted, NEW_PASSWORD, PASSWORD, addUser, findUser, inspect, setup } from './helper.js'

// `oauth2-password user` on existing users: passwd, disable, enable, remove and list, run as the compiled binary (test/cli/helper.ts).

const hasher = cheapHasher()

t.test('user passwd sets the password and revokes earlier tokens; an unknown user exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  const before = await findUser(database, 'alice')
  const result = await run(['user', 'passwd', 'Alice', '--password-stdin'], { stdin: `${NEW_PASSWORD}\n` })
  t.same(result, { code: 0, stdout: 'changed the password of user "alice"\n', stderr: '' })
  const after = await findUser(database, 'alice')
  t.ok(await hasher.verify(after?.passwordHash ?? '', NEW_PASSWORD), 'the new password verifies')
  t.notOk(await hasher.verify(after?.passwordHash ?? '', PASSWORD), 'the old password does not')
  t.ok((after?.tokenVersion ?? 0) > (before?.tokenVersion ?? 0), 'tokenVersion was raised')
  t.equal(after?.id, before?.id)

  const missing = await run(['user', 'passwd', 'bob', '--password-stdin'], { stdin: `${NEW_PASSWORD}\n` })
  t.same(missing, { code: 1, stdout: '', stderr: 'user "bob" not found\n' })
})

t.test('user disable and enable; an unknown user exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  const before = await findUser(database, 'alice')

  t.same(await run(['user', 'disable', 'alice']), { code: 0, stdout: 'disabled user "alice"\n', stderr: '' })
  const disabled = await findUser(database, 'alice')
  t.equal(disabled?.disabled, true)
  t.ok((disabled?.tokenVersion ?? 0) > (before?.tokenVersion ?? 0), 'disabling raised tokenVersion')

  t.same(await run(['user', 'enable', 'ALICE']), { code: 0, stdout: 'enabled user "alice"\n', stderr: '' })
  const enabled = await findUser(database, 'alice')
  t.equal(enabled?.disabled, false)
  t.equal(enabled?.tokenVersion, disabled?.tokenVersion, 'enabling revives no token')

  t.same(await run(['user', 'disable', 'bob']), { code: 1, stdout: '', stderr: 'user "bob" not found\n' })
  t.same(await run(['user', 'enable', 'bob']), { code: 1, stdout: '', stderr: 'user "bob" not found\n' })
})

t.test('user remove; removing again exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  await addUser(run, 'bob')
  t.same(await run(['user', 'remove', 'alice']), { code: 0, stdout: 'removed user "alice"\n', stderr: '' })
  t.equal(await findUser(database, 'alice'), null)
  t.ok(await findUser(database, 'bob'), 'other users stay')
  t.same(await run(['user', 'remove', 'alice']), { code: 1, stdout: '', stderr: 'user "alice" not found\n' })
})

t.test('user list prints a table, and --json an array, never a password hash', async t => {
  const { database, run } = setup()
  t.same(JSON.parse((await run(['user', 'list', '--json'])).stdout), [], 'no users: an empty array')

  await addUser(run, 'alice', ['--scopes', 'me items', '--email', 'alice@example.com', '--full-name', 'Alice Liddell'])
  await addUser(run, 'bob')
  t.equal((await run(['user', 'disable', 'bob'])).code, 0)
  const stored = await inspect(database, store => store.listUsers())

  const table = await run(['user', 'list'])
  t.equal(table.code, 0)
  t.equal(table.stderr, '')
  const lines = table.stdout.trimEnd().split('\n')
  t.equal(lines.length, 3, 'a header and one line per user')
  t.match(lines[0], /USERNAME\s+SCOPES\s+DISABLED\s+EMAIL\s+FULL NAME\s+CREATED/)
  t.match(lines[1], /^alice\s+me items\s+no\s+alice@example\.com\s+Alice Liddell\s+\d{4}-\d\d-\d\dT/)
  t.match(lines[2], /^bob\s+-\s+yes\s+-\s+-\s+\d{4}-\d\d-\d\dT/)

  const json = await run(['user', 'list', '--json'])
  t.equal(json.code, 0)
  t.equal(json.stderr, '')
  const users = JSON.parse(json.stdout) as Array<Record<string, unknown>>
  t.same(users, stored.map(user => ({
    id: user.id,
    username: user.username,
    email: user.email,
    full_name: user.fullName,
    scopes: user.scopes,
    disabled: user.disabled,
    email_verified: false,
    created_at: new Date(user.createdAt).toISOString()
  })))
  for (const user of users) {
    t.same(Object.keys(user).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'full_name', 'id', 'scopes', 'username'])
  }
  t.equal(users[0]?.username, 'alice')
  t.equal(users[1]?.disabled, true)

  for (const output of [table.stdout, json.stdout]) {
    t.notMatch(output, /passwordHash|password_hash|\$argon2/i, 'no password hash')
  }
})

// Last, so that it sees the output of every run above.
t.test('no password ever appears on stdout or stderr', async t => {
  assertNoSecretPrinted(t, { runs: 18 })
})
