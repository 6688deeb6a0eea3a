import t, { type Test } from 'tap'
import { MemoryStore } from '../../store/index.js'
import { REVOCATION_OVERLAP, RevocationList } from '../../tokens/revocations.js'

const TTL = 900

async function setup (t: Test) {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const changed: string[] = []
  let unknown = 0
  const list = new RevocationList(store, { accessTokenTtl: TTL, onUserChange: id => changed.push(id), onUsersUnknown: () => unknown++ })
  return { store, list, changed, unknown: () => unknown }
}

t.test('load reads every revocation that can still matter, and nothing older', async t => {
  const { store, list } = await setup(t)
  const now = Date.now()
  const alice = await store.createUser({ username: 'alice', scopes: [], passwordHash: 'x' })
  await store.createRefreshFamily({ id: 'old', userId: alice.id, clientId: 'c', scopes: [], tokenVersion: 0, createdAt: 0, expiresAt: now + 1e6 }, { hash: 'h1', createdAt: 0, expiresAt: now + 1e6 })
  await store.createRefreshFamily({ id: 'recent', userId: alice.id, clientId: 'c', scopes: [], tokenVersion: 0, createdAt: 0, expiresAt: now + 1e6 }, { hash: 'h2', createdAt: 0, expiresAt: now + 1e6 })
  await store.revokeRefreshFamily('old', now - TTL * 1000 - REVOCATION_OVERLAP - 1)
  await store.revokeRefreshFamily('recent', now - TTL * 1000)
  await store.revokeAccessToken('live', now + 1000, now - 10)
  await list.load(now)
  t.notOk(list.isRevoked({ jti: 'x', sid: 'old' }), 'a family revoked longer ago than a token lives has no live tokens')
  t.ok(list.isRevoked({ jti: 'x', sid: 'recent' }))
  t.ok(list.isRevoked({ jti: 'live' }))
  t.notOk(list.isRevoked({ jti: 'other' }), 'a token without sid is checked by its jti alone')
})

t.test('poll applies what was recorded since, once per change of a user, and forgets what expired', async t => {
  const { store, list, changed } = await setup(t)
  const alice = await store.createUser({ username: 'alice', scopes: [], passwordHash: 'x' })
  await list.load()
  await store.revokeAccessToken('soon', Date.now() + 50, Date.now())
  await store.updateUser(alice.id, { fullName: 'Alice' })
  await list.poll()
  await list.poll()
  t.ok(list.isRevoked({ jti: 'soon' }))
  t.strictSame(changed, [alice.id], 'a change read twice through the overlap is applied once')
  await new Promise(resolve => setTimeout(resolve, 60))
  await list.poll()
  t.notOk(list.isRevoked({ jti: 'soon' }), 'an expired token is forgotten')
})

t.test('what is revoked here is known here at once, and written to the store for the other instances', async t => {
  const { list, store } = await setup(t)
  const alice = await store.createUser({ username: 'alice', scopes: [], passwordHash: 'x' })
  await store.createRefreshFamily({ id: 'f', userId: alice.id, clientId: 'c', scopes: [], tokenVersion: 0, createdAt: 0, expiresAt: Date.now() + 1e6 }, { hash: 'h', createdAt: 0, expiresAt: Date.now() + 1e6 })
  await list.revokeAccessToken('j', Date.now() + 60_000)
  await list.revokeFamily('f')
  t.ok(list.isRevoked({ jti: 'j' }))
  t.ok(list.isRevoked({ jti: 'k', sid: 'f' }))
  t.strictSame((await store.revocationsSince(0)).map(({ kind, id }) => `${kind} ${id}`).sort(), ['access_token j', 'refresh_family f'])
})

t.test('after a gap longer than the store keeps changes of users, every user is to be read again', async t => {
  const { list, unknown } = await setup(t)
  await list.load(0)
  await list.poll(1000)
  t.equal(unknown(), 0)
  await list.poll(1000 + TTL * 1000 + REVOCATION_OVERLAP + 1)
  t.equal(unknown(), 1)
})
