import t from 'tap'
import { ExpiringCache } from '../../tokens/cache.js'
import { UserCache } from '../../tokens/user-cache.js'
import { MemoryStore } from '../../store/index.js'

t.test('ExpiringCache keeps entries for its TTL or until their own end, and at most maxEntries', async t => {
  const cache = new ExpiringCache<string, number>(1000, 3)
  cache.set('a', 1, Infinity, 0)
  cache.set('b', 2, 500, 0)
  t.strictSame(cache.get('a', 999), { value: 1, expiresAt: 1000 })
  t.equal(cache.get('a', 1000), undefined, 'gone at its TTL')
  t.equal(cache.get('b', 500), undefined, 'gone at its own end, before the TTL')

  for (const [index, key] of ['c', 'd', 'e', 'f'].entries()) cache.set(key, index, Infinity, 0)
  t.equal(cache.size, 3, 'never more than maxEntries')
  t.equal(cache.get('c', 1), undefined, 'the oldest went first')
  t.strictSame(['d', 'e', 'f'].map(key => cache.get(key, 1)?.value), [1, 2, 3])
  cache.set('d', 9, Infinity, 1)
  cache.set('g', 4, Infinity, 1)
  t.equal(cache.get('e', 2), undefined, 'setting a key again makes it the newest')
  t.equal(cache.get('d', 2)?.value, 9)
})

t.test('ExpiringCache, when full, makes room by removing its oldest tenth at once', async t => {
  const cache = new ExpiringCache<number, number>(1000, 20)
  for (let key = 0; key < 20; key++) cache.set(key, key, Infinity, 0)
  t.equal(cache.size, 20)
  cache.set(20, 20, Infinity, 0)
  t.equal(cache.size, 19, 'two went to make room for one')
  t.strictSame([0, 1, 2, 20].map(key => cache.get(key, 1)?.value), [undefined, undefined, 2, 20], 'the two oldest')
  cache.set(21, 21, Infinity, 0)
  t.equal(cache.size, 20, 'the next insertion finds room')
})

t.test('UserCache reads a user once, again after forget, and never keeps a read older than a change', async t => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const alice = await store.createUser({ username: 'alice', scopes: [], passwordHash: 'x' })
  let reads = 0
  const counting = new Proxy(store, {
    get: (target, name) => name === 'findUserById'
      ? async (id: string) => { reads++; return await target.findUserById(id) }
      : Reflect.get(target, name, target)
  })
  const users = new UserCache(counting, 2)

  const [first, second] = await Promise.all([users.get(alice.id), users.get(alice.id)])
  t.equal(first?.username, 'alice')
  t.equal(second, first, 'concurrent requests share one read')
  t.equal(reads, 1)
  await users.get(alice.id)
  t.equal(reads, 1, 'a known user is not read again')

  await store.updateUser(alice.id, { disabled: true })
  users.forget(alice.id)
  t.equal((await users.get(alice.id))?.disabled, true, 'read again after forget')
  t.equal(reads, 2)

  // A change while a read is on its way: that read answers its caller but is not kept.
  const reading = users.get('unknown')
  users.clear()
  t.equal(await reading, null)
  t.equal(await users.get('unknown'), null)
  t.equal(reads, 4, 'the read that a change overtook was not kept')
})
