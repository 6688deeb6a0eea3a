import { DuplicateClientError, DuplicateUsernameError } from '../store/types.js'
import type { OneTimeCode, RefreshFamily, RotationResult, Store, UnmetTerm, User, UserChanges } from '../store/types.js'
import { newClient, newFamily, newToken, newUser, signingKey, WEB_TERMS } from './fixtures.js'

// The contract every Store passes, built-in or written by a host: the repository runs it against
// each of its stores, and the author of a custom store runs it with tap:
//
//   import t from 'tap'
//   import { storeContract } from 'fastify-oauth2-password/testing'
//   storeContract(t, async () => new MyStore(...))
//
// Timestamps are the tests' own numbers, never Date.now(), except where creation time is checked.

/** A message after an assertion's arguments, as tap takes it. */
type Message = [] | [message: string]

/** The assertions of tap's `Test` that the suite uses: tap's `t` is one. */
export interface ContractTest {
  test (name: string, fn: (t: ContractTest) => Promise<void>): unknown
  teardown (fn: () => unknown): void
  equal (found: unknown, wanted: unknown, ...message: Message): unknown
  not (found: unknown, notWanted: unknown, ...message: Message): unknown
  ok (value: unknown, ...message: Message): unknown
  same (found: unknown, wanted: unknown, ...message: Message): unknown
  strictSame (found: unknown, wanted: unknown, ...message: Message): unknown
  match (found: unknown, pattern: unknown, ...message: Message): unknown
  rejects (promise: Promise<unknown>, ...message: Message): Promise<unknown>
  resolves (promise: Promise<unknown>, ...message: Message): Promise<unknown>
}

/**
 * Runs the store contract as subtests of `t`. `openStore` opens a new, empty store for one subtest
 * (whatever it leaves behind goes at that subtest's teardown); the suite closes the store itself.
 */
export function storeContract (t: ContractTest, openStore: (t: ContractTest) => Promise<Store>): void {
  async function open (t: ContractTest): Promise<Store> {
    const store = await openStore(t)
    t.teardown(() => store.close())
    return store
  }

  t.test('creates a user with defaults and finds it by username and by id', async t => {
    const store = await open(t)
    const before = Date.now()
    const user = await store.createUser(newUser('alice'))
    const after = Date.now()

    t.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    t.same(user, {
      id: user.id,
      username: 'alice',
      email: null,
      emailVerified: false,
      fullName: null,
      scopes: ['read'],
      disabled: false,
      passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$alice',
      tokenVersion: 0,
      createdAt: user.createdAt
    })
    t.ok(user.createdAt >= before && user.createdAt <= after, 'createdAt is the time of creation')
    t.strictSame(await store.findUserByUsername('alice'), user)
    t.strictSame(await store.findUserById(user.id), user)
  })

  t.test('keeps the email, full name and scopes given at creation', async t => {
    const store = await open(t)
    const user = await store.createUser(newUser('bob', {
      email: 'bob@example.com',
      fullName: 'Bob Ross',
      scopes: ['read', 'write', 'admin']
    }))
    t.equal(user.email, 'bob@example.com')
    t.equal(user.fullName, 'Bob Ross')
    t.strictSame(user.scopes, ['read', 'write', 'admin'])
    t.strictSame(await store.findUserById(user.id), user)

    const noScopes = await store.createUser(newUser('carol', { scopes: [] }))
    t.strictSame((await store.findUserById(noScopes.id))?.scopes, [])
  })

  t.test('finds no user by an unknown username or id', async t => {
    const store = await open(t)
    await store.createUser(newUser('alice'))
    t.equal(await store.findUserByUsername('bob'), null)
    t.equal(await store.findUserByUsername('Alice'), null, 'usernames are compared exactly')
    t.equal(await store.findUserById('00000000-0000-4000-8000-000000000000'), null)
  })

  t.test('refuses a taken username with DuplicateUsernameError', async t => {
    const store = await open(t)
    const first = await store.createUser(newUser('alice'))
    const err = await store.createUser(newUser('alice', { passwordHash: 'other' })).then(
      () => { throw new Error('createUser resolved') },
      (err: unknown) => err
    )
    t.ok(err instanceof DuplicateUsernameError, 'is a DuplicateUsernameError')
    t.equal((err as DuplicateUsernameError).code, 'DUPLICATE_USERNAME')
    t.equal(await store.countUsers(), 1)
    t.strictSame(await store.findUserByUsername('alice'), first, 'the first user is untouched')
  })

  t.test('updates each field on its own', async t => {
    const store = await open(t)
    const cases: UserChanges[] = [
      { email: 'alice@example.com' },
      { email: null },
      { fullName: 'Alice Liddell' },
      { fullName: null },
      { scopes: ['read', 'write'] },
      { scopes: [] },
      { disabled: true },
      { disabled: false },
      { passwordHash: '$argon2id$new' },
      { emailVerified: true },
      { emailVerified: false }
    ]
    let user = await store.createUser(newUser('alice', { email: 'a@example.com', fullName: 'A' }))
    for (const changes of cases) {
      const updated = await store.updateUser(user.id, changes)
      const expected = { ...user, ...changes }
      t.strictSame(updated, expected, `updateUser(${JSON.stringify(changes)})`)
      t.strictSame(await store.findUserById(user.id), expected, `stored ${JSON.stringify(changes)}`)
      user = expected
    }
    t.equal(user.tokenVersion, 0, 'no change raised tokenVersion by itself')
  })

  t.test('updates several fields at once and leaves out undefined ones', async t => {
    const store = await open(t)
    const user = await store.createUser(newUser('alice', { email: 'a@example.com', fullName: 'A' }))
    const updated = await store.updateUser(user.id, {
      email: undefined,
      fullName: 'Alice',
      scopes: ['admin'],
      disabled: true
    })
    t.strictSame(updated, { ...user, fullName: 'Alice', scopes: ['admin'], disabled: true })
    t.strictSame(await store.updateUser(user.id, {}), updated, 'no changes, no difference')
  })

  t.test('revokeTokens raises tokenVersion by exactly one in the same write', async t => {
    const store = await open(t)
    const user = await store.createUser(newUser('alice'))

    const revoked = await store.updateUser(user.id, { revokeTokens: true })
    t.strictSame(revoked, { ...user, tokenVersion: 1 })

    const changed = await store.updateUser(user.id, { passwordHash: '$argon2id$new', revokeTokens: true })
    t.strictSame(changed, { ...user, passwordHash: '$argon2id$new', tokenVersion: 2 })

    t.strictSame(await store.updateUser(user.id, { revokeTokens: false }), changed, 'false raises nothing')
    t.equal((await store.findUserById(user.id))?.tokenVersion, 2)
  })

  t.test('a new e-mail address is unverified; the same one, or one given with emailVerified, is as said', async t => {
    const store = await open(t)
    const user = await store.createUser(newUser('alice', { email: 'alice@example.com' }))
    t.equal((await store.updateUser(user.id, { emailVerified: true }))?.emailVerified, true)
    t.equal((await store.updateUser(user.id, { email: 'alice@example.com' }))?.emailVerified, true, 'the same address stays verified')
    t.equal((await store.updateUser(user.id, { fullName: 'Alice' }))?.emailVerified, true, 'other changes leave it')
    const moved = await store.updateUser(user.id, { email: 'alice@example.org' })
    t.equal(moved?.emailVerified, false, 'another address is not verified')
    t.equal((await store.findUserById(user.id))?.emailVerified, false)
    await store.updateUser(user.id, { emailVerified: true })
    t.equal((await store.updateUser(user.id, { email: null }))?.emailVerified, false, 'no address is not verified')
    t.equal((await store.updateUser(user.id, { email: 'a@example.net', emailVerified: true }))?.emailVerified, true, 'emailVerified given wins')
  })

  t.test('revokeTokens with keepRefreshFamily carries that one live family of the user to the new version', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))
    await store.createRefreshFamily(newFamily(alice.id, 'kept'), newToken('k1', 1000, 5000))
    await store.createRefreshFamily(newFamily(alice.id, 'other'), newToken('o1', 1000, 5000))
    await store.createRefreshFamily(newFamily(alice.id, 'revoked'), newToken('r1', 1000, 5000))
    await store.revokeRefreshFamily('revoked', 1500)
    await store.createRefreshFamily(newFamily(bob.id, 'bobs'), newToken('b1', 1000, 5000))
    const version = async (hash: string): Promise<number | undefined> => (await store.findRefreshToken(hash))?.family.tokenVersion

    t.equal((await store.updateUser(alice.id, { fullName: 'A', keepRefreshFamily: 'kept' }))?.tokenVersion, 0)
    t.equal(await version('k1'), 0, 'without revokeTokens, nothing moves')
    t.equal((await store.updateUser(alice.id, { revokeTokens: true, keepRefreshFamily: 'kept' }))?.tokenVersion, 1)
    t.equal(await version('k1'), 1, 'the kept family is at the new version')
    t.equal(await version('o1'), 0, 'another family of the user is left behind')
    t.equal(await version('r1'), 0, 'a revoked family is not revived')
    await store.updateUser(alice.id, { revokeTokens: true, keepRefreshFamily: 'bobs' })
    t.equal(await version('b1'), 0, "another user's family is not the user's to keep")
    t.equal(await version('k1'), 1, 'and the family kept before is behind now')
    t.equal(await store.updateUser('00000000-0000-4000-8000-000000000000', { revokeTokens: true, keepRefreshFamily: 'bobs' }), null)
  })

  t.test('lists a user\'s live logins, most recently used first', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))
    t.strictSame(await store.listSessions(alice.id, 2000), [], 'none yet')
    await store.createRefreshFamily(newFamily(alice.id, 'a', { createdAt: 1000, clientId: 'web', scopes: ['read', 'write'] }), newToken('a1', 1000, 9000))
    await store.createRefreshFamily(newFamily(alice.id, 'b', { createdAt: 1100 }), newToken('b1', 1100, 9000))
    await store.createRefreshFamily(newFamily(alice.id, 'c', { createdAt: 1200 }), newToken('c1', 1200, 9000))
    await store.createRefreshFamily(newFamily(bob.id, 'bobs'), newToken('x1', 1000, 9000))
    const session = (id: string, createdAt: number, lastUsedAt: number, extra: Partial<Omit<RefreshFamily, 'revokedAt'>> = {}) =>
      ({ ...newFamily(alice.id, id, { createdAt, ...extra }), revokedAt: null, lastUsedAt })

    t.strictSame(await store.listSessions(alice.id, 2000), [session('c', 1200, 1200), session('b', 1100, 1100), session('a', 1000, 1000, { clientId: 'web', scopes: ['read', 'write'] })])
    await store.rotateRefreshToken('a1', newToken('a2', 3000, 9000), 3000, WEB_TERMS)
    t.strictSame((await store.listSessions(alice.id, 3000)).map(found => [found.id, found.lastUsedAt]), [['a', 3000], ['c', 1200], ['b', 1100]],
      'a refresh is a use')
    await store.rotateRefreshToken('a1', newToken('a3', 3500, 9000), 3500, WEB_TERMS)
    t.equal((await store.listSessions(alice.id, 3500))[0]?.lastUsedAt, 3000, 'a spent token coming back is none')

    await store.revokeRefreshFamily('b', 4000)
    t.strictSame((await store.listSessions(alice.id, 4000)).map(found => found.id), ['a', 'c'], 'a revoked family is over')
    await store.createRefreshFamily(newFamily(alice.id, 'idle', { createdAt: 4000 }), newToken('i1', 4000, 4500))
    t.strictSame((await store.listSessions(alice.id, 4400)).map(found => found.id), ['idle', 'a', 'c'])
    t.strictSame((await store.listSessions(alice.id, 4500)).map(found => found.id), ['a', 'c'], 'so is one whose last token expired')
    t.strictSame((await store.listSessions(alice.id, 10_000)).map(found => found.id), [], 'and every one whose family ended')

    await store.updateUser(alice.id, { revokeTokens: true, keepRefreshFamily: 'c' })
    t.strictSame((await store.listSessions(alice.id, 5000)).map(found => found.id), ['c'], 'a change of password ends those it does not keep')
    t.strictSame((await store.listSessions(bob.id, 5000)).map(found => found.id), ['bobs'])
    t.strictSame(await store.listSessions('00000000-0000-4000-8000-000000000000', 5000), [])
  })

  t.test('finds the users of an e-mail address, ASCII letters in any case, ordered by username', async t => {
    const store = await open(t)
    const bob = await store.createUser(newUser('bob', { email: 'Shared@Example.com' }))
    const alice = await store.createUser(newUser('alice', { email: 'shared@example.COM' }))
    await store.createUser(newUser('carol', { email: 'carol@example.com' }))
    await store.createUser(newUser('dave'))
    const zoe = await store.createUser(newUser('zoe', { email: 'ÉLODIE@example.com' }))
    t.strictSame(await store.findUsersByEmail('shared@example.com'), [alice, bob])
    t.strictSame(await store.findUsersByEmail('SHARED@EXAMPLE.COM'), [alice, bob])
    t.strictSame(await store.findUsersByEmail('ÉLODIE@example.com'), [zoe])
    t.strictSame(await store.findUsersByEmail('élodie@example.com'), [], 'letters beyond ASCII are compared as they are')
    t.strictSame(await store.findUsersByEmail('nobody@example.com'), [])
    t.strictSame(await store.findUsersByEmail(''), [])
    await store.updateUser(bob.id, { email: 'bob@example.com' })
    t.strictSame((await store.findUsersByEmail('shared@example.com')).map(user => user.username), ['alice'], 'after a change of address')
  })

  t.test('keeps one-time codes and finds them by hash', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice', { email: 'alice@example.com' }))
    const code = { hash: 'c1', purpose: 'verify_email' as const, userId: alice.id, email: 'alice@example.com', createdAt: 1000, expiresAt: 5000 }
    await store.createOneTimeCode(code)
    t.strictSame(await store.findOneTimeCode('c1'), { ...code, usedAt: null })
    t.equal(await store.findOneTimeCode('unknown'), null)
    await t.rejects(store.createOneTimeCode(code), 'a taken hash')
    await t.rejects(store.createOneTimeCode({ ...code, hash: 'c2', userId: '00000000-0000-4000-8000-000000000000' }), 'an unknown user')
  })

  t.test('a code is used once, for its purpose, while live, by the address it was sent to, with its changes', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice', { email: 'alice@example.com' }))
    const bob = await store.createUser(newUser('bob', { email: 'bob@example.com' }))
    const code = (hash: string, extra: Partial<OneTimeCode> = {}) =>
      ({ hash, purpose: 'verify_email' as const, userId: alice.id, email: 'alice@example.com', createdAt: 1000, expiresAt: 5000, ...extra })
    for (const made of [code('v1'), code('v2'), code('r1', { purpose: 'reset_password' }), code('b1', { userId: bob.id, email: 'bob@example.com' })]) {
      await store.createOneTimeCode(made)
    }
    t.equal(await store.useOneTimeCode('v1', 'reset_password', 2000, { emailVerified: true }), null, 'another purpose')
    t.equal(await store.useOneTimeCode('v1', 'verify_email', 5000, { emailVerified: true }), null, 'expired')
    t.equal(await store.useOneTimeCode('unknown', 'verify_email', 2000, { emailVerified: true }), null, 'unknown')
    t.equal((await store.findUserById(alice.id))?.emailVerified, false, 'no refusal changed the user')

    const used = await store.useOneTimeCode('v1', 'verify_email', 2000, { emailVerified: true })
    t.strictSame(used, { ...alice, emailVerified: true })
    t.strictSame(await store.findUserById(alice.id), used)
    t.equal((await store.findOneTimeCode('v1'))?.usedAt, 2000)
    t.equal((await store.findOneTimeCode('v2'))?.usedAt, 2000, 'the user\'s other codes for the purpose are spent with it')
    t.equal((await store.findOneTimeCode('r1'))?.usedAt, null, 'a code for another purpose is not')
    t.equal((await store.findOneTimeCode('b1'))?.usedAt, null, 'nor another user\'s')
    t.equal(await store.useOneTimeCode('v1', 'verify_email', 2100, { emailVerified: true }), null, 'used')
    t.equal(await store.useOneTimeCode('v2', 'verify_email', 2100, { emailVerified: true }), null, 'spent with the first')
    t.ok((await store.revocationsSince(0)).some(revocation => revocation.kind === 'user' && revocation.id === alice.id), 'the change is in the feed')

    const reset = await store.useOneTimeCode('r1', 'reset_password', 2200, { passwordHash: '$argon2id$new', revokeTokens: true })
    t.equal(reset?.passwordHash, '$argon2id$new')
    t.equal(reset?.tokenVersion, 1)

    await store.updateUser(bob.id, { email: 'robert@example.com' })
    t.equal(await store.useOneTimeCode('b1', 'verify_email', 2300, { emailVerified: true }), null, 'the user no longer has the address')
    t.equal((await store.findOneTimeCode('b1'))?.usedAt, null)
  })

  t.test('of ten concurrent uses of one code exactly one gets the user', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice', { email: 'alice@example.com' }))
    await store.createOneTimeCode({ hash: 'r1', purpose: 'reset_password', userId: alice.id, email: 'alice@example.com', createdAt: 1000, expiresAt: 5000 })
    const results = await Promise.all(Array.from({ length: 10 }, () => store.useOneTimeCode('r1', 'reset_password', 2000, { revokeTokens: true })))
    t.equal(results.filter(result => result !== null).length, 1)
    t.equal((await store.findUserById(alice.id))?.tokenVersion, 1, 'its changes were applied once')
  })

  t.test('codes go with their user, and prune removes expired ones', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice', { email: 'alice@example.com' }))
    const bob = await store.createUser(newUser('bob', { email: 'bob@example.com' }))
    const code = (hash: string, userId: string, email: string, expiresAt: number) =>
      ({ hash, purpose: 'reset_password' as const, userId, email, createdAt: 1000, expiresAt })
    await store.createOneTimeCode(code('a1', alice.id, 'alice@example.com', 5000))
    await store.createOneTimeCode(code('b1', bob.id, 'bob@example.com', 2000))
    await store.createOneTimeCode(code('b2', bob.id, 'bob@example.com', 2001))
    await store.removeUser(alice.id)
    t.equal(await store.findOneTimeCode('a1'), null)
    await store.prune(2000)
    t.equal(await store.findOneTimeCode('b1'), null, 'expired')
    t.equal((await store.findOneTimeCode('b2'))?.hash, 'b2', 'live')
  })

  t.test('updateUser returns null for an unknown id', async t => {
    const store = await open(t)
    const id = '00000000-0000-4000-8000-000000000000'
    t.equal(await store.updateUser(id, { email: 'x@example.com', revokeTokens: true }), null)
    t.equal(await store.findUserById(id), null)
    t.equal(await store.countUsers(), 0)
  })

  t.test('removes a user once, and a re-added username gets a new id', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))

    t.equal(await store.removeUser(alice.id), true)
    t.equal(await store.removeUser(alice.id), false)
    t.equal(await store.findUserById(alice.id), null)
    t.equal(await store.findUserByUsername('alice'), null)
    t.strictSame(await store.listUsers(), [bob])

    const again = await store.createUser(newUser('alice'))
    t.not(again.id, alice.id)
    t.equal(await store.findUserById(alice.id), null, 'the old id names nobody')
  })

  t.test('lists users ordered by username, by code point', async t => {
    const store = await open(t)
    // UTF-16 order would put the emoji, a surrogate pair, before U+FFFD.
    const usernames = ['😀', 'carol', '\uFFFD', 'bob', 'é', 'alice', 'alice2']
    for (const username of usernames) await store.createUser(newUser(username))
    const listed = await store.listUsers()
    t.strictSame(listed.map(user => user.username), ['alice', 'alice2', 'bob', 'carol', 'é', '\uFFFD', '😀'])
    for (const user of listed) t.strictSame(await store.findUserById(user.id), user)
  })

  t.test('counts users', async t => {
    const store = await open(t)
    t.equal(await store.countUsers(), 0)
    const alice = await store.createUser(newUser('alice'))
    await store.createUser(newUser('bob'))
    t.equal(await store.countUsers(), 2)
    await store.removeUser(alice.id)
    t.equal(await store.countUsers(), 1)
  })

  t.test('hands out copies that do not alias stored state', async t => {
    const store = await open(t)
    const input = newUser('alice', { scopes: ['read'] })
    const created = await store.createUser(input)
    const stored = structuredClone(created)

    input.scopes.push('admin')
    const results: User[] = [
      created,
      await store.findUserByUsername('alice') as User,
      await store.findUserById(created.id) as User,
      await store.updateUser(created.id, {}) as User,
      ...await store.listUsers()
    ]
    for (const user of results) {
      user.scopes.push('admin')
      user.email = 'mallory@example.com'
      user.tokenVersion = 99
      user.disabled = true
    }
    t.strictSame(await store.findUserById(created.id), stored)
    t.strictSame(await store.findUserByUsername('alice'), stored)

    const scopes = ['write']
    await store.updateUser(created.id, { scopes })
    scopes.push('admin')
    t.strictSame((await store.findUserById(created.id))?.scopes, ['write'])

    const key = signingKey('k1', 1000)
    const added = await store.addFirstSigningKey(key)
    key.privateKey = 'changed'
    for (const listed of [...added, ...await store.listSigningKeys()]) listed.kid = 'changed'
    t.strictSame(await store.listSigningKeys(), [signingKey('k1', 1000)])
  })

  t.test('keeps only the first signing key', async t => {
    const store = await open(t)
    t.strictSame(await store.listSigningKeys(), [])

    const first = signingKey('first', 1000)
    t.strictSame(await store.addFirstSigningKey(first), [first])
    t.strictSame(await store.addFirstSigningKey(signingKey('second', 2000)), [first], 'a later key is not added')
    t.strictSame(await store.listSigningKeys(), [first])
  })

  t.test('lists signing keys newest first, ties newest inserted first', async t => {
    const store = await open(t)
    for (const key of [signingKey('a', 1000), signingKey('b', 3000), signingKey('c', 2000), signingKey('d', 3000)]) {
      await store.addSigningKey(key)
    }
    const expected = [signingKey('d', 3000), signingKey('b', 3000), signingKey('c', 2000), signingKey('a', 1000)]
    t.strictSame(await store.listSigningKeys(), expected)
    t.strictSame(await store.addFirstSigningKey(signingKey('e', 4000)), expected, 'no key is added to a set')
  })

  t.test('refuses a second signing key with a taken kid', async t => {
    const store = await open(t)
    await store.addSigningKey(signingKey('a', 1000))
    await t.rejects(store.addSigningKey(signingKey('a', 2000)))
    t.strictSame(await store.listSigningKeys(), [signingKey('a', 1000)])
  })

  t.test('replaces a signing key\'s private key by kid, and nothing else', async t => {
    const store = await open(t)
    for (const key of [signingKey('a', 1000), signingKey('b', 2000)]) await store.addSigningKey(key)

    t.equal(await store.updateSigningKey('a', '$sealed$a'), true)
    t.strictSame(await store.listSigningKeys(), [signingKey('b', 2000), { ...signingKey('a', 1000), privateKey: '$sealed$a' }])
    t.equal(await store.updateSigningKey('unknown', '$sealed$x'), false, 'no such key')
    t.equal((await store.listSigningKeys()).length, 2, 'and none added')
  })

  t.test('removes signing keys by kid', async t => {
    const store = await open(t)
    for (const key of [signingKey('a', 1000), signingKey('b', 2000), signingKey('c', 3000)]) await store.addSigningKey(key)

    await store.removeSigningKeys([])
    t.equal((await store.listSigningKeys()).length, 3, 'no kids, nothing removed')
    await store.removeSigningKeys(['a', 'c', 'unknown'])
    t.strictSame(await store.listSigningKeys(), [signingKey('b', 2000)])
    await store.removeSigningKeys(['a'])
    t.strictSame(await store.listSigningKeys(), [signingKey('b', 2000)], 'removing again changes nothing')

    await store.addSigningKey(signingKey('a', 2000))
    t.strictSame(await store.listSigningKeys(), [signingKey('a', 2000), signingKey('b', 2000)], 'a kid can come back, newest first')
  })

  t.test('starts a refresh family and finds its first token', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const family = newFamily(alice.id, 'f1', { clientId: 'cli', scopes: ['read', 'write'], tokenVersion: 3 })
    await store.createRefreshFamily(family, newToken('t1', 1000, 5000))

    t.strictSame(await store.findRefreshToken('t1'), {
      token: { hash: 't1', familyId: 'f1', createdAt: 1000, expiresAt: 5000, spentAt: null },
      family: { ...family, revokedAt: null }
    })
    t.equal(await store.findRefreshToken('unknown'), null)

    await store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('u1', 1000, 20_000))
    t.equal((await store.findRefreshToken('u1'))?.token.expiresAt, 10_000, 'the first token ends with its family too')
  })

  t.test('refuses a family for an unknown user, a taken family id or a taken token hash', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

    await t.rejects(store.createRefreshFamily(newFamily('00000000-0000-4000-8000-000000000000', 'f2'), newToken('u1', 1000, 5000)))
    await t.rejects(store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('u1', 1000, 5000)))
    await t.rejects(store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('t1', 1000, 5000)))
    t.equal(await store.findRefreshToken('u1'), null)
    t.equal((await store.findRefreshToken('t1'))?.family.id, 'f1', 'the first family keeps its token')
    await t.resolves(store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('u1', 1000, 5000)),
      'no refused family was half written')
  })

  t.test('rotates a live token: it is spent, and the next joins its family ending no later than it', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const family = { ...newFamily(alice.id, 'f1'), revokedAt: null }
    await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

    t.strictSame(await store.rotateRefreshToken('t1', newToken('t2', 2000, 20_000), 2000, WEB_TERMS), { outcome: 'rotated', family, user: alice })
    t.strictSame(await store.findRefreshToken('t1'), {
      token: { hash: 't1', familyId: 'f1', createdAt: 1000, expiresAt: 5000, spentAt: 2000 },
      family
    })
    t.strictSame(await store.findRefreshToken('t2'), {
      token: { hash: 't2', familyId: 'f1', createdAt: 2000, expiresAt: 10_000, spentAt: null },
      family
    }, 'capped at the end of the family')

    const reused: RotationResult = { outcome: 'spent', family, spentAt: 2000 }
    t.strictSame(await store.rotateRefreshToken('t1', newToken('t3', 3000, 7000), 3000, WEB_TERMS), reused)
    t.equal(await store.findRefreshToken('t3'), null, 'reuse wrote nothing')
    t.strictSame(await store.rotateRefreshToken('t1', newToken('t3', 6000, 9000), 6000, WEB_TERMS), reused,
      'a spent token is reported as reused after its own expiry too')

    t.strictSame(await store.rotateRefreshToken('t2', newToken('t3', 3000, 7000), 3000, WEB_TERMS), { outcome: 'rotated', family, user: alice })
    t.equal((await store.findRefreshToken('t3'))?.token.expiresAt, 7000)
  })

  t.test('refuses to rotate an unknown or expired token, or one of an expired or revoked family', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const invalid: RotationResult = { outcome: 'invalid' }
    t.strictSame(await store.rotateRefreshToken('unknown', newToken('next', 2000, 6000), 2000, WEB_TERMS), invalid, 'unknown')

    await store.createRefreshFamily(newFamily(alice.id, 'idle'), newToken('idle-1', 1000, 5000))
    t.strictSame(await store.rotateRefreshToken('idle-1', newToken('idle-2', 5000, 9000), 5000, WEB_TERMS), invalid, 'expired token')
    t.strictSame(await store.findRefreshToken('idle-1'), {
      token: { hash: 'idle-1', familyId: 'idle', createdAt: 1000, expiresAt: 5000, spentAt: null },
      family: { ...newFamily(alice.id, 'idle'), revokedAt: null }
    }, 'an expired token stays unspent')
    t.equal(await store.findRefreshToken('idle-2'), null)

    await store.createRefreshFamily(newFamily(alice.id, 'ended'), newToken('ended-1', 1000, 5000))
    await store.rotateRefreshToken('ended-1', newToken('ended-2', 2000, 10_000), 2000, WEB_TERMS)
    t.strictSame(await store.rotateRefreshToken('ended-2', newToken('ended-3', 10_000, 14_000), 10_000, WEB_TERMS), invalid, 'expired family')
    t.strictSame(await store.rotateRefreshToken('ended-1', newToken('ended-3', 10_000, 14_000), 10_000, WEB_TERMS), invalid,
      'a spent token of an expired family is not reported as reused')

    await store.createRefreshFamily(newFamily(alice.id, 'revoked'), newToken('revoked-1', 1000, 5000))
    await store.rotateRefreshToken('revoked-1', newToken('revoked-2', 2000, 6000), 2000, WEB_TERMS)
    await store.revokeRefreshFamily('revoked', 3000)
    t.strictSame(await store.rotateRefreshToken('revoked-2', newToken('revoked-3', 3000, 7000), 3000, WEB_TERMS), invalid, 'revoked family')
    t.strictSame(await store.rotateRefreshToken('revoked-1', newToken('revoked-3', 3000, 7000), 3000, WEB_TERMS), invalid,
      'a spent token of a revoked family is not reported as reused')
    t.equal(await store.findRefreshToken('revoked-3'), null)
    t.equal((await store.findRefreshToken('revoked-2'))?.token.spentAt, null)

    await store.revokeRefreshFamily('revoked', 4000)
    t.equal((await store.findRefreshToken('revoked-1'))?.family.revokedAt, 3000, 'revoking again keeps the first time')
    await t.resolves(store.revokeRefreshFamily('unknown', 4000))
  })

  t.test('of ten concurrent rotations of one token exactly one rotates, the others see it spent', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const family = { ...newFamily(alice.id, 'f1'), revokedAt: null }
    await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))

    const nexts = Array.from({ length: 10 }, (_, index) => `next-${index}`)
    const results = await Promise.all(nexts.map(next => store.rotateRefreshToken('t1', newToken(next, 2000, 6000), 2000, WEB_TERMS)))
    t.strictSame(results.filter(result => result.outcome === 'rotated'), [{ outcome: 'rotated', family, user: alice }])
    t.strictSame(results.filter(result => result.outcome !== 'rotated'), nexts.slice(1).map(() => ({ outcome: 'spent', family, spentAt: 2000 })))
    const stored = await Promise.all(nexts.map(next => store.findRefreshToken(next)))
    t.equal(stored.filter(found => found !== null).length, 1, 'only the rotation that won stored its token')
  })

  t.test('refuses a rotation whose family fails a term, writing nothing, whatever the token\'s state', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const family = { ...newFamily(alice.id, 'f1', { scopes: ['read', 'write'], jkt: 'thumbprint-1' }), revokedAt: null }
    await store.createRefreshFamily(family, newToken('t1', 1000, 5000))
    const terms = { clientId: 'web', jkt: 'thumbprint-1', scopes: ['write'] }
    const refused = (unmet: UnmetTerm): RotationResult => ({ outcome: 'refused', family, unmet })

    t.strictSame(await store.rotateRefreshToken('t1', newToken('x', 2000, 6000), 2000, { ...terms, clientId: 'other' }), refused('client'))
    t.strictSame(await store.rotateRefreshToken('t1', newToken('x', 2000, 6000), 2000, { ...terms, jkt: null }), refused('key'), 'no key')
    t.strictSame(await store.rotateRefreshToken('t1', newToken('x', 2000, 6000), 2000, { ...terms, jkt: 'thumbprint-2' }), refused('key'), 'another key')
    t.strictSame(await store.rotateRefreshToken('t1', newToken('x', 2000, 6000), 2000, { ...terms, scopes: ['read', 'admin'] }), refused('scope'))
    t.equal(await store.findRefreshToken('x'), null, 'a refusal wrote nothing')
    t.equal((await store.findRefreshToken('t1'))?.token.spentAt, null, 'nor spent the token')

    const rotated = await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000, { ...terms, scopes: ['read', 'write'] })
    t.strictSame(rotated, { outcome: 'rotated', family, user: alice }, 'every scope of the family may be asked for again')
    t.strictSame(await store.rotateRefreshToken('t1', newToken('x', 3000, 7000), 3000, { ...terms, clientId: 'other' }), refused('client'),
      'a spent token of another client is refused, not reported as reused')

    const widened = await store.updateUser(alice.id, { scopes: ['read', 'write', 'admin'] })
    t.strictSame(await store.rotateRefreshToken('t2', newToken('t3', 3000, 7000), 3000, terms), { outcome: 'rotated', family, user: widened },
      'with the user as they are now')
  })

  t.test('refuses a rotation once its user is disabled or has moved to another token version', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))
    await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))
    await store.createRefreshFamily(newFamily(alice.id, 'f2', { tokenVersion: 1 }), newToken('u1', 1000, 5000))
    await store.createRefreshFamily(newFamily(bob.id, 'f3'), newToken('v1', 1000, 5000))
    const family = (id: string, extra: Partial<Omit<RefreshFamily, 'revokedAt'>> = {}): RefreshFamily => ({ ...newFamily(alice.id, id, extra), revokedAt: null })

    t.strictSame(await store.rotateRefreshToken('u1', newToken('x', 2000, 6000), 2000, WEB_TERMS),
      { outcome: 'refused', family: family('f2', { tokenVersion: 1 }), unmet: 'user' }, 'a family of another token version')
    await store.updateUser(alice.id, { disabled: true })
    t.strictSame(await store.rotateRefreshToken('t1', newToken('x', 2000, 6000), 2000, WEB_TERMS),
      { outcome: 'refused', family: family('f1'), unmet: 'user' }, 'a disabled user')
    await store.updateUser(alice.id, { disabled: false })
    t.equal((await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000, WEB_TERMS)).outcome, 'rotated', 'enabled again')
    t.equal(await store.findRefreshToken('x'), null, 'no refusal wrote anything')
    t.equal((await store.rotateRefreshToken('v1', newToken('v2', 2000, 6000), 2000, WEB_TERMS)).outcome, 'rotated', "another user's login is untouched")
  })

  t.test('removing a user removes its refresh families and their tokens', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))
    await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))
    await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000, WEB_TERMS)
    await store.createRefreshFamily(newFamily(alice.id, 'f2'), newToken('u1', 1000, 5000))
    await store.createRefreshFamily(newFamily(bob.id, 'f3'), newToken('v1', 1000, 5000))

    await store.removeUser(alice.id)
    for (const hash of ['t1', 't2', 'u1']) t.equal(await store.findRefreshToken(hash), null, `${hash} is gone`)
    t.strictSame(await store.rotateRefreshToken('t2', newToken('t3', 3000, 7000), 3000, WEB_TERMS), { outcome: 'invalid' })
    t.equal((await store.findRefreshToken('v1'))?.family.userId, bob.id, 'another user keeps his')
    await t.resolves(store.createRefreshFamily(newFamily(bob.id, 'f1'), newToken('t1', 3000, 7000)), 'the family id is free again')
  })

  t.test('removing a client revokes its refresh families', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    await store.createClient(newClient('web'))
    await store.createRefreshFamily(newFamily(alice.id, 'web-1'), newToken('w1', 1000, 5000))
    await store.createRefreshFamily(newFamily(alice.id, 'web-2'), newToken('w2', 1000, 5000))
    await store.revokeRefreshFamily('web-2', 1500)
    await store.createRefreshFamily(newFamily(alice.id, 'other', { clientId: 'other' }), newToken('o1', 1000, 5000))

    const before = Date.now()
    t.equal(await store.removeClient('web'), true)
    const after = Date.now()
    const revokedAt = (await store.findRefreshToken('w1'))?.family.revokedAt ?? 0
    t.ok(revokedAt >= before && revokedAt <= after, 'revoked at the removal')
    t.equal((await store.findRefreshToken('w2'))?.family.revokedAt, 1500, 'a revoked family keeps its time')
    t.equal((await store.findRefreshToken('o1'))?.family.revokedAt, null, "another client's family is untouched")
    t.strictSame(await store.rotateRefreshToken('w1', newToken('w3', 2000, 6000), 2000, WEB_TERMS), { outcome: 'invalid' })
    t.equal(await store.removeClient('web'), false)
  })

  t.test('revokes access tokens by jti, and lists them as revocations since a time', async t => {
    const store = await open(t)
    t.strictSame(await store.revocationsSince(0), [])
    await store.revokeAccessToken('j1', 5000, 1000)
    t.strictSame(await store.revocationsSince(0), [{ kind: 'access_token', id: 'j1', at: 1000, expiresAt: 5000 }])
    t.strictSame(await store.revocationsSince(1000), [{ kind: 'access_token', id: 'j1', at: 1000, expiresAt: 5000 }], 'at or after')
    t.strictSame(await store.revocationsSince(1001), [])

    await t.resolves(store.revokeAccessToken('j1', 4000, 1200), 'revoking twice is fine')
    await store.prune(4500)
    t.strictSame(await store.revocationsSince(0), [{ kind: 'access_token', id: 'j1', at: 1000, expiresAt: 5000 }],
      'a shorter second revocation neither shortens the first nor moves its time')
  })

  t.test('lists revoked families and changed or removed users as revocations', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))
    await store.createClient(newClient('web'))
    await store.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))
    await store.createRefreshFamily(newFamily(bob.id, 'f2', { clientId: 'cli' }), newToken('t2', 1000, 5000))
    await store.createRefreshFamily(newFamily(bob.id, 'f3', { clientId: 'web' }), newToken('t3', 1000, 5000))
    t.strictSame(await store.revocationsSince(0), [], 'creating users, clients and families revokes nothing')

    await store.revokeRefreshFamily('f1', 3000)
    await store.revokeRefreshFamily('f1', 3500)
    t.strictSame(await store.revocationsSince(0), [{ kind: 'refresh_family', id: 'f1', at: 3000, expiresAt: null }], 'the first time stands')

    const before = Date.now()
    await store.updateUser(alice.id, { disabled: true })
    t.equal(await store.updateUser('unknown', { disabled: true }), null)
    await store.removeUser(bob.id)
    t.equal(await store.removeUser('unknown'), false)
    await store.removeClient('web')
    const recent = (await store.revocationsSince(before)).filter(revocation => revocation.kind !== 'refresh_family' || revocation.id !== 'f1')
    const ids = recent.map(({ kind, id }) => `${kind}:${id}`).sort()
    t.strictSame(ids, [`user:${alice.id}`, `user:${bob.id}`].sort(), 'each user changed or removed once; the removed user\'s families went with them')
    for (const revocation of recent) {
      t.ok(revocation.at >= before && revocation.at <= Date.now(), `${revocation.kind} ${revocation.id} at the time of the change`)
      t.equal(revocation.expiresAt, null)
    }

    // A millisecond after every revocation above, so that only the next one is recorded at or after it.
    const later = Date.now() + 1
    while (Date.now() < later) await new Promise(resolve => setTimeout(resolve, 1))
    await store.createRefreshFamily(newFamily(alice.id, 'f4', { clientId: 'web2' }), newToken('t4', 1000, 5000))
    await store.createClient(newClient('web2'))
    await store.removeClient('web2')
    const removedClient = await store.revocationsSince(later)
    t.strictSame(removedClient.map(({ kind, id }) => `${kind}:${id}`), ['refresh_family:f4'], 'removing a client revokes its families')
  })

  t.test('prune removes expired revocations, refresh tokens and families, and keeps live ones', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    await store.revokeAccessToken('past', 1000, 500)
    await store.revokeAccessToken('now', 2000, 500)
    await store.revokeAccessToken('live', 2001, 500)
    await store.createRefreshFamily(newFamily(alice.id, 'ended', { expiresAt: 2000 }), newToken('ended-1', 1000, 2000))
    await store.createRefreshFamily(newFamily(alice.id, 'live'), newToken('live-1', 1000, 2000))
    await store.rotateRefreshToken('live-1', newToken('live-2', 1500, 5000), 1500, WEB_TERMS)
    await store.createRefreshFamily(newFamily(alice.id, 'revoked'), newToken('revoked-1', 1000, 5000))
    await store.revokeRefreshFamily('revoked', 1100)

    await store.prune(2000)
    const revokedTokens = (await store.revocationsSince(0)).filter(revocation => revocation.kind === 'access_token')
    t.strictSame(revokedTokens.map(revocation => revocation.id), ['live'], 'only the revocation of a live token stays')
    t.equal(await store.findRefreshToken('ended-1'), null)
    t.equal(await store.findRefreshToken('live-1'), null, 'an expired token goes though its family lives on')
    t.strictSame(await store.findRefreshToken('live-2'), {
      token: { hash: 'live-2', familyId: 'live', createdAt: 1500, expiresAt: 5000, spentAt: null },
      family: { ...newFamily(alice.id, 'live'), revokedAt: null }
    })
    t.equal((await store.findRefreshToken('revoked-1'))?.family.revokedAt, 1100, 'a revoked family stays until it ends')
    await t.resolves(store.createRefreshFamily(newFamily(alice.id, 'ended'), newToken('ended-2', 2000, 6000)),
      'the ended family is gone')
    await t.rejects(store.createRefreshFamily(newFamily(alice.id, 'live'), newToken('live-3', 2000, 6000)),
      'the live family is not')
    await t.resolves(store.prune(2000), 'pruning again finds nothing')
  })

  t.test('keeps the DPoP key a family is bound to, through rotation', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bound = { ...newFamily(alice.id, 'f1', { jkt: 'thumbprint-1' }), revokedAt: null }
    await store.createRefreshFamily(newFamily(alice.id, 'f1', { jkt: 'thumbprint-1' }), newToken('t1', 1000, 5000))
    t.strictSame((await store.findRefreshToken('t1'))?.family, bound)
    t.strictSame(await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000, { ...WEB_TERMS, jkt: 'thumbprint-1' }), { outcome: 'rotated', family: bound, user: alice })
    t.equal((await store.findRefreshToken('t2'))?.family.jkt, 'thumbprint-1')

    const { jkt: _none, ...unbound } = newFamily(alice.id, 'f2')
    await store.createRefreshFamily(unbound, newToken('u1', 1000, 5000))
    t.equal((await store.findRefreshToken('u1'))?.family.jkt, null, 'a family given no key is bound to none')
  })

  t.test('takes a DPoP proof id once until it expires, then again', async t => {
    const store = await open(t)
    t.equal(await store.useDPoPProof('p1', 2000, 1000), true, 'first use')
    t.equal(await store.useDPoPProof('p1', 2000, 1500), false, 'replayed')
    t.equal(await store.useDPoPProof('p1', 9000, 1999), false, 'replayed just before it expires, with a later expiry')
    t.equal(await store.useDPoPProof('p2', 2000, 1500), true, 'another id')
    t.equal(await store.useDPoPProof('p1', 3000, 2000), true, 'expired and not pruned yet: taken anew')
    t.equal(await store.useDPoPProof('p1', 3000, 2500), false, 'remembered again, until its new expiry')
  })

  t.test('of ten concurrent uses of one DPoP proof id exactly one is the first', async t => {
    const store = await open(t)
    const uses = await Promise.all(Array.from({ length: 10 }, async () => await store.useDPoPProof('p1', 2000, 1000)))
    t.equal(uses.filter(first => first).length, 1)
  })

  t.test('prune deletes the DPoP proofs expired at its time, and keeps the others', async t => {
    const store = await open(t)
    await store.useDPoPProof('ended', 2000, 1000)
    await store.useDPoPProof('live', 2001, 1000)
    await store.prune(2000)
    t.equal(await store.useDPoPProof('ended', 5000, 1500), true, 'gone, so new at any time')
    t.equal(await store.useDPoPProof('live', 5000, 1500), false, 'still remembered')
  })

  t.test('prune forgets the changes of users made before its time', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    await store.updateUser(alice.id, { fullName: 'Alice' })
    const changedAt = (await store.revocationsSince(0))[0]?.at ?? 0
    await store.prune(changedAt - 1)
    t.equal((await store.revocationsSince(0)).length, 1, 'a change at or after the time stays')
    await store.prune(changedAt)
    t.strictSame(await store.revocationsSince(0), [])
  })

  t.test('creates, finds, lists and removes clients', async t => {
    const store = await open(t)
    const web = newClient('web', { scopes: ['read', 'write'] })
    const cli = newClient('cli', { secretHash: null, scopes: [] })
    // Code point order, as for usernames: uppercase before lowercase, 'é' after both.
    const others = [newClient('é'), newClient('Admin')]
    for (const client of [web, cli, ...others]) await store.createClient(client)

    t.strictSame(await store.findClient('web'), web)
    t.strictSame(await store.findClient('cli'), cli, 'a public client has no secret')
    t.equal(await store.findClient('unknown'), null)
    t.equal(await store.findClient('WEB'), null, 'ids are compared exactly')
    t.strictSame((await store.listClients()).map(client => client.id), ['Admin', 'cli', 'web', 'é'])

    t.equal(await store.removeClient('cli'), true)
    t.equal(await store.removeClient('cli'), false)
    t.equal(await store.findClient('cli'), null)
    t.strictSame(await store.listClients(), [others[1], web, others[0]])
  })

  t.test('replaces a client\'s secret, and says whether the client exists', async t => {
    const store = await open(t)
    await store.createClient(newClient('web'))
    t.equal(await store.setClientSecret('web', 'sha256:new'), true)
    t.strictSame(await store.findClient('web'), newClient('web', { secretHash: 'sha256:new' }))
    t.equal(await store.setClientSecret('unknown', 'sha256:new'), false)
    t.equal(await store.findClient('unknown'), null, 'no client is created')
  })

  t.test('refuses a taken client id with DuplicateClientError', async t => {
    const store = await open(t)
    await store.createClient(newClient('web'))
    const err = await store.createClient(newClient('web', { secretHash: null })).then(
      () => { throw new Error('createClient resolved') },
      (err: unknown) => err
    )
    t.ok(err instanceof DuplicateClientError, 'is a DuplicateClientError')
    t.equal((err as DuplicateClientError).code, 'DUPLICATE_CLIENT')
    t.strictSame(await store.listClients(), [newClient('web')], 'the first client is untouched')
  })

  t.test('hands out copies of families, tokens and clients', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const family = newFamily(alice.id, 'f1')
    const client = newClient('web')
    await store.createRefreshFamily(family, newToken('t1', 1000, 5000))
    await store.createClient(client)
    family.scopes.push('admin')
    client.scopes.push('admin')

    const found = await store.findRefreshToken('t1')
    const rotated = await store.rotateRefreshToken('t1', newToken('t2', 2000, 6000), 2000, WEB_TERMS)
    const reused = await store.rotateRefreshToken('t1', newToken('t3', 3000, 7000), 3000, WEB_TERMS)
    const families = [found?.family, ...[rotated, reused].map(result => result.outcome === 'invalid' ? undefined : result.family)]
    for (const returned of families) {
      returned?.scopes.push('admin')
      if (returned !== undefined) returned.revokedAt = 1
    }
    if (found !== null) found.token.spentAt = null
    for (const returned of [await store.findClient('web'), ...await store.listClients()]) {
      returned?.scopes.push('admin')
      if (returned !== null) returned.secretHash = null
    }

    t.strictSame(await store.findRefreshToken('t1'), {
      token: { hash: 't1', familyId: 'f1', createdAt: 1000, expiresAt: 5000, spentAt: 2000 },
      family: { ...newFamily(alice.id, 'f1'), revokedAt: null }
    })
    t.strictSame(await store.findClient('web'), newClient('web'))
  })

  t.test('starts a pending TOTP enrollment, replacing a pending one but never an active one', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    t.equal(await store.findTotpEnrollment(alice.id), null, 'none at first')

    t.equal(await store.startTotpEnrollment(alice.id, 'secret-1', 1000), true)
    t.strictSame(await store.findTotpEnrollment(alice.id), { userId: alice.id, secret: 'secret-1', state: 'pending', lastStep: null, createdAt: 1000 })
    t.equal(await store.startTotpEnrollment(alice.id, 'secret-2', 2000), true, 'a pending one is replaced')
    t.strictSame(await store.findTotpEnrollment(alice.id), { userId: alice.id, secret: 'secret-2', state: 'pending', lastStep: null, createdAt: 2000 })

    t.equal(await store.activateTotpEnrollment(alice.id, 'secret-2', 50, ['h1']), true)
    t.equal(await store.startTotpEnrollment(alice.id, 'secret-3', 3000), false, 'an active one is not replaced')
    t.strictSame(await store.findTotpEnrollment(alice.id), { userId: alice.id, secret: 'secret-2', state: 'active', lastStep: 50, createdAt: 2000 })
    t.equal(await store.spendRecoveryCode(alice.id, 'h1'), true, 'nor are its recovery codes')

    t.equal(await store.startTotpEnrollment('00000000-0000-4000-8000-000000000000', 'secret', 1000), false, 'no enrollment for an unknown user')
    t.equal(await store.findTotpEnrollment('00000000-0000-4000-8000-000000000000'), null)
  })

  t.test('activates only the pending enrollment with the given secret, with its last step and recovery codes', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))
    t.equal(await store.activateTotpEnrollment(alice.id, 'secret', 10, ['h1']), false, 'nothing to activate')
    await store.startTotpEnrollment(alice.id, 'secret', 1000)
    t.equal(await store.activateTotpEnrollment(alice.id, 'another secret', 10, ['h1']), false, 'an enrollment replaced meanwhile')
    t.equal(await store.activateTotpEnrollment(bob.id, 'secret', 10, ['h1']), false, 'another user\'s')
    t.equal((await store.findTotpEnrollment(alice.id))?.state, 'pending')
    t.equal(await store.spendRecoveryCode(alice.id, 'h1'), false, 'a refused activation stores no recovery code')

    t.equal(await store.activateTotpEnrollment(alice.id, 'secret', 10, ['h1', 'h2', 'h3']), true)
    t.strictSame(await store.findTotpEnrollment(alice.id), { userId: alice.id, secret: 'secret', state: 'active', lastStep: 10, createdAt: 1000 })
    t.equal(await store.activateTotpEnrollment(alice.id, 'secret', 20, ['h4']), false, 'an active one is not activated again')
    t.equal(await store.spendRecoveryCode(alice.id, 'h4'), false)
    t.equal(await store.spendRecoveryCode(alice.id, 'h2'), true, 'its recovery codes are stored')

    await store.startTotpEnrollment(bob.id, 'secret', 1000)
    t.equal(await store.activateTotpEnrollment(bob.id, 'secret', null, ['h1']), true, 'without a step (an operator\'s enrollment)')
    t.equal((await store.findTotpEnrollment(bob.id))?.lastStep, null)
    t.equal(await store.spendRecoveryCode(bob.id, 'h1'), true, 'one digest may be two users\' codes')
    t.equal(await store.spendRecoveryCode(alice.id, 'h1'), true)
  })

  t.test('accepts each time step of an active enrollment once, and no earlier one', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    t.equal(await store.acceptTotpStep(alice.id, 100), false, 'no enrollment')
    await store.startTotpEnrollment(alice.id, 'secret', 1000)
    t.equal(await store.acceptTotpStep(alice.id, 100), false, 'a pending enrollment accepts no step')
    await store.activateTotpEnrollment(alice.id, 'secret', null, [])

    t.equal(await store.acceptTotpStep(alice.id, 100), true, 'the first step')
    t.equal(await store.acceptTotpStep(alice.id, 100), false, 'the same step again')
    t.equal(await store.acceptTotpStep(alice.id, 99), false, 'an earlier step')
    t.equal(await store.acceptTotpStep(alice.id, 101), true, 'a later step')
    t.equal((await store.findTotpEnrollment(alice.id))?.lastStep, 101)
    t.equal(await store.acceptTotpStep(alice.id, 2 ** 40), true, 'a step of a far future, as a number')
    t.equal((await store.findTotpEnrollment(alice.id))?.lastStep, 2 ** 40)
  })

  t.test('of ten concurrent acceptances of one step, and of ten spendings of one recovery code, exactly one succeeds', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    await store.startTotpEnrollment(alice.id, 'secret', 1000)
    await store.activateTotpEnrollment(alice.id, 'secret', 10, ['h1'])

    const steps = await Promise.all(Array.from({ length: 10 }, () => store.acceptTotpStep(alice.id, 11)))
    t.equal(steps.filter(accepted => accepted).length, 1)
    const codes = await Promise.all(Array.from({ length: 10 }, () => store.spendRecoveryCode(alice.id, 'h1')))
    t.equal(codes.filter(spent => spent).length, 1)
  })

  t.test('removes an enrollment with its recovery codes, and removing the user removes both', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    const bob = await store.createUser(newUser('bob'))
    t.equal(await store.removeTotpEnrollment(alice.id), false, 'nothing to remove')
    for (const user of [alice, bob]) {
      await store.startTotpEnrollment(user.id, 'secret', 1000)
      await store.activateTotpEnrollment(user.id, 'secret', 10, ['h1', 'h2'])
    }

    t.equal(await store.removeTotpEnrollment(alice.id), true)
    t.equal(await store.findTotpEnrollment(alice.id), null)
    t.equal(await store.removeTotpEnrollment(alice.id), false, 'once')
    t.equal(await store.startTotpEnrollment(alice.id, 'new secret', 2000), true, 'a new enrollment can start')
    await store.activateTotpEnrollment(alice.id, 'new secret', null, [])
    t.equal(await store.spendRecoveryCode(alice.id, 'h1'), false, 'the old recovery codes went with the old enrollment')

    await store.removeUser(bob.id)
    t.equal(await store.findTotpEnrollment(bob.id), null, 'the user\'s enrollment went with the user')
    t.equal(await store.spendRecoveryCode(bob.id, 'h1'), false, 'and its recovery codes')
    t.equal((await store.findTotpEnrollment(alice.id))?.state, 'active', 'another user keeps hers')
  })

  t.test('hands out copies of enrollments', async t => {
    const store = await open(t)
    const alice = await store.createUser(newUser('alice'))
    await store.startTotpEnrollment(alice.id, 'secret', 1000)
    const codes = ['h1']
    await store.activateTotpEnrollment(alice.id, 'secret', 10, codes)
    codes.push('h2')
    const found = await store.findTotpEnrollment(alice.id)
    if (found !== null) {
      found.state = 'pending'
      found.lastStep = 0
    }
    t.strictSame(await store.findTotpEnrollment(alice.id), { userId: alice.id, secret: 'secret', state: 'active', lastStep: 10, createdAt: 1000 })
    t.equal(await store.spendRecoveryCode(alice.id, 'h2'), false)
  })

  t.test('ping resolves while open and rejects once closed', async t => {
    const store = await open(t)
    await t.resolves(store.ping())
    await store.close()
    await t.rejects(store.ping())
  })
}
