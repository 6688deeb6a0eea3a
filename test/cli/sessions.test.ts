import t from 'tap'
import { assertNoSecretPrinted, addUser, findUser, inspect, setup } from './helper.js'

// `oauth2-password user verify-email`, `user sessions` and `user logout`, run as the compiled binary (test/cli/helper.ts).

t.test('user verify-email, user sessions and user logout; an unknown user or login exits 1', async t => {
  const { database, run } = setup()
  await addUser(run, 'alice', ['--email', 'alice@example.com'])
  await addUser(run, 'bob')
  t.same(await run(['user', 'verify-email', 'ALICE']), { code: 0, stdout: 'verified the e-mail address of user "alice"\n', stderr: '' })
  t.equal((await findUser(database, 'alice'))?.emailVerified, true)
  t.same(await run(['user', 'verify-email', 'bob']), { code: 1, stdout: '', stderr: 'user "bob" has no e-mail address\n' })
  t.same(await run(['user', 'verify-email', 'carol']), { code: 1, stdout: '', stderr: 'user "carol" not found\n' })

  // Two logins of alice and one of bob, as the token endpoint makes them.
  const now = Date.now()
  await inspect(database, async store => {
    const alice = await store.findUserByUsername('alice')
    const bob = await store.findUserByUsername('bob')
    const family = (id: string, userId: string, createdAt: number) =>
      ({ id, userId, clientId: 'first-party', scopes: [], tokenVersion: 0, createdAt, expiresAt: now + 60_000 })
    await store.createRefreshFamily(family('older', alice?.id ?? '', now - 2000), { hash: 'h1', createdAt: now - 2000, expiresAt: now + 60_000 })
    await store.createRefreshFamily(family('newer', alice?.id ?? '', now - 1000), { hash: 'h2', createdAt: now - 1000, expiresAt: now + 60_000 })
    await store.createRefreshFamily(family('bobs', bob?.id ?? '', now - 1000), { hash: 'h3', createdAt: now - 1000, expiresAt: now + 60_000 })
  })
  const table = await run(['user', 'sessions', 'alice'])
  t.equal(table.code, 0)
  const lines = table.stdout.trimEnd().split('\n')
  t.match(lines[0], /^ID\s+CLIENT\s+CREATED\s+LAST USED$/)
  t.match(lines[1], /^newer\s+first-party\s+\d{4}-/)
  t.match(lines[2], /^older\s+first-party\s+\d{4}-/)
  t.same(JSON.parse((await run(['user', 'sessions', 'alice', '--json'])).stdout).map((session: { id: string }) => session.id), ['newer', 'older'])

  t.same(await run(['user', 'logout', 'alice', '--session', 'bobs']), { code: 1, stdout: '', stderr: 'user "alice" has no live login "bobs"\n' })
  t.same(await run(['user', 'logout', 'alice', '--session', 'older']), { code: 0, stdout: 'ended login "older" of user "alice"\n', stderr: '' })
  t.same(JSON.parse((await run(['user', 'sessions', 'alice', '--json'])).stdout).map((session: { id: string }) => session.id), ['newer'])
  t.same(await run(['user', 'logout', 'alice']), { code: 0, stdout: 'ended every login of user "alice"\n', stderr: '' })
  t.same(JSON.parse((await run(['user', 'sessions', 'alice', '--json'])).stdout), [])
  t.same(JSON.parse((await run(['user', 'sessions', 'bob', '--json'])).stdout).map((session: { id: string }) => session.id), ['bobs'], 'bob is untouched')
  t.equal((await run(['user', 'sessions', 'carol'])).code, 1)
})

// Last, so that it sees the output of every run above.
t.test('no password ever appears on stdout or stderr', async t => {
  assertNoSecretPrinted(t, { runs: 14 })
})
