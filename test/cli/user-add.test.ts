import t from 'tap'
import { cheapHasher } from '../argon2.js'
import { assertNoSecretPrinted, NEW_PASSWORD, PASSWORD, addUser, findUser, setup } from './helper.js'

// `oauth2-password user add`: what it stores and the usernames it refuses, run as the compiled binary
// (test/cli/helper.ts). The passwords it refuses, and keeps exactly, are in user-add-passwords.test.ts.

const hasher = cheapHasher()

t.test('user add creates the user and exits 0', async t => {
  const { database, run } = setup()
  const result = await run(
    ['user', 'add', 'alice', '--scopes', 'me items', '--email', 'alice@example.com', '--full-name', 'Alice Liddell', '--password-stdin'],
    { stdin: `${PASSWORD}\n` }
  )
  t.same(result, { code: 0, stdout: 'created user "alice"\n', stderr: '' })
  const alice = await findUser(database, 'alice')
  t.ok(alice)
  t.same(alice?.scopes, ['me', 'items'])
  t.equal(alice?.email, 'alice@example.com')
  t.equal(alice?.fullName, 'Alice Liddell')
  t.equal(alice?.disabled, false)
  t.ok(await hasher.verify(alice?.passwordHash ?? '', PASSWORD), 'the password from stdin verifies')
  t.notOk(hasher.needsRehash(alice?.passwordHash ?? ''), 'hashed with argon2id and the ARGON2_* of the environment')

  await addUser(run, 'bob')
  const bob = await findUser(database, 'bob')
  t.same(bob?.scopes, [], 'no --scopes grants no scope')
  t.equal(bob?.email, null)
  t.equal(bob?.fullName, null)
})

t.test('user add of a taken username exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice')
  const before = await findUser(database, 'alice')
  for (const name of ['alice', 'ALICE']) {
    const result = await run(['user', 'add', name, '--password-stdin'], { stdin: `${NEW_PASSWORD}\n` })
    t.same(result, { code: 1, stdout: '', stderr: 'user "alice" exists already\n' }, name)
  }
  t.same(await findUser(database, 'alice'), before, 'the existing user is untouched')
})

t.test('usernames are canonicalised before anything, and printed canonical', async t => {
  const { database, run } = setup()
  const add = await run(['user', 'add', 'Ｊｏｈｎ', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.same(add, { code: 0, stdout: 'created user "john"\n', stderr: '' })
  t.ok(await findUser(database, 'john'))
  const again = await run(['user', 'add', 'JOHN', '--password-stdin'], { stdin: `${PASSWORD}\n` })
  t.same(again, { code: 1, stdout: '', stderr: 'user "john" exists already\n' })
  t.same(await run(['user', 'remove', 'john']), { code: 0, stdout: 'removed user "john"\n', stderr: '' })
  t.equal(await findUser(database, 'john'), null)
})

// Last, so that it sees the output of every run above.
t.test('no password ever appears on stdout or stderr', async t => {
  assertNoSecretPrinted(t, { runs: 8 })
})
