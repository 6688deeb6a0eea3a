import t, { type Test } from 'tap'
import { MemoryStore, type Store } from '../../store/index.js'
import { createUsers, type Users } from '../../users/users.js'
import { KeyEncryption } from '../../tokens/key-encryption.js'
import { codeAt, stepAt } from '../totp-codes.js'
import { CHEAP_ARGON2, cheapHasher } from '../argon2.js'

const PASSWORD = 'correct horse battery staple'
const NEW_PASSWORD = 'a brand new passphrase, please'
const hasher = cheapHasher()

function setup (): { store: Store, users: Users } {
  const store = new MemoryStore()
  return { store, users: createUsers({ store, argon2: CHEAP_ARGON2 }) }
}

/** The error a call rejects with; fails the test when it resolves. */
async function refusal (t: Test, call: Promise<unknown>): Promise<Error & { code?: string, statusCode?: number }> {
  const error = await call.then(() => null, (error: unknown) => error)
  t.type(error, Error, 'the call rejects with an Error')
  return error as Error & { code?: string, statusCode?: number }
}

t.test('create canonicalises the username, hashes with argon2id, and returns no hash', async t => {
  const { store, users } = setup()
  const created = await users.create({
    username: 'Ａlice', password: PASSWORD, scopes: ['me', 'items', 'me'], email: 'alice@example.com', fullName: 'Alice Liddell'
  })
  t.strictSame(created, {
    id: created.id,
    username: 'alice',
    email: 'alice@example.com',
    emailVerified: false,
    fullName: 'Alice Liddell',
    scopes: ['me', 'items'],
    disabled: false,
    createdAt: created.createdAt
  }, 'canonical username, scopes without repeats, and neither the hash nor the token version')
  const stored = await store.findUserByUsername('alice')
  t.equal(stored?.id, created.id)
  t.ok(stored?.passwordHash.startsWith('$argon2id$'), 'an argon2id hash')
  t.ok(await hasher.verify(stored?.passwordHash ?? '', PASSWORD), 'that verifies the password')
  t.notOk(hasher.needsRehash(stored?.passwordHash ?? ''), 'with the given parameters')

  const bare = await users.create({ username: 'bob', password: PASSWORD, email: '', fullName: '' })
  t.equal(bare.email, null, 'an empty e-mail address is none')
  t.equal(bare.fullName, null)
  t.strictSame(bare.scopes, [], 'no scopes by default')
})

t.test('every refusal has a code and a status, and leaves no user behind', async t => {
  const { store, users } = setup()
  const cases: Array<{ name: string, call: () => Promise<unknown>, code: string, status: number, message: RegExp }> = [
    { name: 'a username with a space', call: () => users.create({ username: 'a b', password: PASSWORD }), code: 'OAUTH2_USERNAME_INVALID', status: 400, message: /^invalid username "a b": / },
    { name: 'an empty username', call: () => users.create({ username: '', password: PASSWORD }), code: 'OAUTH2_USERNAME_INVALID', status: 400, message: /username is empty/ },
    { name: 'a username of 129 characters', call: () => users.create({ username: 'x'.repeat(129), password: PASSWORD }), code: 'OAUTH2_USERNAME_INVALID', status: 400, message: /longer than 128/ },
    { name: 'a short password', call: () => users.create({ username: 'carol', password: 'abcde' }), code: 'OAUTH2_PASSWORD_WEAK', status: 400, message: /^password must be at least 15 characters$/ },
    { name: 'a common password', call: () => users.create({ username: 'carol', password: '1234567890Qwerty' }), code: 'OAUTH2_PASSWORD_WEAK', status: 400, message: /^password is on a list of common passwords/ },
    { name: 'a password of 1025 characters', call: () => users.create({ username: 'carol', password: 'x'.repeat(1025) }), code: 'OAUTH2_PASSWORD_WEAK', status: 400, message: /at most 1024 characters/ },
    { name: 'a scope with a quote', call: () => users.create({ username: 'carol', password: PASSWORD, scopes: ['"me"'] }), code: 'OAUTH2_SCOPE_INVALID', status: 400, message: /^invalid scope/ },
    { name: 'a control character in the name', call: () => users.create({ username: 'carol', password: PASSWORD, fullName: 'Carol\u0007' }), code: 'OAUTH2_USER_FIELD_INVALID', status: 400, message: /^fullName must not contain control characters$/ }
  ]
  for (const { name, call, code, status, message } of cases) {
    const error = await refusal(t, call())
    t.equal(error.code, code, name)
    t.equal(error.statusCode, status, name)
    t.match(error.message, message, name)
    t.equal(await store.countUsers(), 0, `${name}: no user was created`)
  }
  t.notMatch((await refusal(t, users.create({ username: 'carol', password: 'hunter2' }))).message, 'hunter2', 'the password is never in the message')
  t.notMatch((await refusal(t, users.create({ username: 'carol', password: '1234567890Qwerty' }))).message, /1234567890qwerty/i, 'nor a common one')
})

t.test('create of a taken username, in any case, is OAUTH2_USER_EXISTS and leaves the user as it was', async t => {
  const { store, users } = setup()
  await users.create({ username: 'alice', password: PASSWORD })
  const before = await store.findUserByUsername('alice')
  for (const username of ['alice', 'ALICE', 'ａlice']) {
    const error = await refusal(t, users.create({ username, password: NEW_PASSWORD }))
    t.equal(error.code, 'OAUTH2_USER_EXISTS', username)
    t.equal(error.statusCode, 409)
    t.equal(error.message, 'user "alice" exists already')
  }
  t.strictSame(await store.findUserByUsername('alice'), before)
})

t.test('setPassword sets the password and raises the token version', async t => {
  const { store, users } = setup()
  await users.create({ username: 'alice', password: PASSWORD })
  const before = await store.findUserByUsername('alice')
  await users.setPassword('ALICE', NEW_PASSWORD)
  const after = await store.findUserByUsername('alice')
  t.ok(await hasher.verify(after?.passwordHash ?? '', NEW_PASSWORD), 'the new password verifies')
  t.notOk(await hasher.verify(after?.passwordHash ?? '', PASSWORD), 'the old one does not')
  t.equal(after?.tokenVersion, (before?.tokenVersion ?? 0) + 1, 'tokens issued before stop working')

  const weak = await refusal(t, users.setPassword('alice', 'abcde'))
  t.equal(weak.code, 'OAUTH2_PASSWORD_WEAK')
  const common = await refusal(t, users.setPassword('alice', '1qaz2wsx3edc4rfv'))
  t.equal(common.code, 'OAUTH2_PASSWORD_WEAK', 'a common password is refused too')
  t.strictSame(await store.findUserByUsername('alice'), after, 'a weak password changes nothing')
  const missing = await refusal(t, users.setPassword('bob', NEW_PASSWORD))
  t.equal(missing.code, 'OAUTH2_USER_NOT_FOUND')
  t.equal(missing.statusCode, 404)
  t.equal(missing.message, 'user "bob" not found')
})

t.test('disable raises the token version, enable does not, remove removes', async t => {
  const { store, users } = setup()
  await users.create({ username: 'alice', password: PASSWORD })
  await users.create({ username: 'bob', password: PASSWORD })
  const before = await store.findUserByUsername('alice')

  await users.disable('Alice')
  const disabled = await store.findUserByUsername('alice')
  t.equal(disabled?.disabled, true)
  t.equal(disabled?.tokenVersion, (before?.tokenVersion ?? 0) + 1, 'disabling ends the tokens issued before')
  t.equal((await users.find('alice'))?.disabled, true)

  await users.enable('alice')
  const enabled = await store.findUserByUsername('alice')
  t.equal(enabled?.disabled, false)
  t.equal(enabled?.tokenVersion, disabled?.tokenVersion, 'enabling revives no token')

  await users.remove('alice')
  t.equal(await users.find('alice'), null)
  t.strictSame((await users.list()).map(user => user.username), ['bob'])

  for (const call of [users.disable('alice'), users.enable('alice'), users.remove('alice')]) {
    t.equal((await refusal(t, call)).code, 'OAUTH2_USER_NOT_FOUND')
  }
  t.equal((await refusal(t, users.find('a b'))).code, 'OAUTH2_USERNAME_INVALID', 'find refuses a username no account can have')
})

t.test('list orders users by username and shows no hash', async t => {
  const { users } = setup()
  for (const username of ['carol', 'alice', 'bob']) await users.create({ username, password: PASSWORD })
  const listed = await users.list()
  t.strictSame(listed.map(user => user.username), ['alice', 'bob', 'carol'])
  for (const user of listed) t.same(Object.keys(user).sort(), ['createdAt', 'disabled', 'email', 'emailVerified', 'fullName', 'id', 'scopes', 'username'])
})

t.test('passwordMinLength is 15 by default, can be raised, and is checked', async t => {
  const store = new MemoryStore()
  const strict = createUsers({ store, argon2: CHEAP_ARGON2, passwordMinLength: 40 })
  t.match((await refusal(t, strict.create({ username: 'alice', password: PASSWORD }))).message, 'at least 40 characters')
  const lax = createUsers({ store, argon2: CHEAP_ARGON2, passwordMinLength: 8 })
  await t.resolves(lax.create({ username: 'alice', password: '8 chars!' }))
  for (const passwordMinLength of [7, 1025, 15.5]) {
    t.throws(() => createUsers({ store, passwordMinLength }), { name: 'RangeError', message: /option "passwordMinLength" must be an integer from 8 to 1024/ })
  }
})

t.test('argon2 parameters below the least the plugin accepts are refused, naming the option', async t => {
  const store = new MemoryStore()
  t.throws(() => createUsers({ store, argon2: { memoryCost: 512 } }), { name: 'RangeError', message: 'option "argon2.memoryCost" must be an integer of at least 1024; received 512' })
  t.throws(() => createUsers({ store, argon2: { timeCost: 0 } }), { message: /option "argon2.timeCost"/ })
  t.throws(() => createUsers({ store, argon2: { parallelism: 1.5 } }), { message: /option "argon2.parallelism"/ })
})

t.test('TOTP: an operator\'s enrollment is active at once, with its URI and ten recovery codes; disableTotp removes it', async t => {
  const store = new MemoryStore()
  const users = createUsers({ store, argon2: CHEAP_ARGON2, issuer: 'https://auth.example.com' })
  const alice = await users.create({ username: 'alice', password: PASSWORD })
  const before = Date.now()
  const { secret, uri, recoveryCodes } = await users.enrollTotp('ALICE')
  t.match(secret, /^[A-Z2-7]{32}$/)
  t.equal(uri, `otpauth://totp/auth.example.com:alice?issuer=auth.example.com&secret=${secret}&algorithm=SHA1&digits=6&period=30`)
  t.equal(recoveryCodes.length, 10)
  const enrollment = await store.findTotpEnrollment(alice.id)
  t.match(enrollment, { userId: alice.id, secret, state: 'active', lastStep: null })
  t.ok((enrollment?.createdAt ?? 0) >= before)

  const again = await refusal(t, users.enrollTotp('alice'))
  t.match(again, { code: 'OAUTH2_TOTP_ENROLLED', statusCode: 409, message: 'user "alice" has a TOTP second factor already; disable it first' })
  t.equal((await store.findTotpEnrollment(alice.id))?.secret, secret, 'the second enrollment changed nothing')
  t.match(await refusal(t, users.startTotpEnrollment('alice')), { code: 'OAUTH2_TOTP_ENROLLED' })

  await users.disableTotp('alice')
  t.equal(await store.findTotpEnrollment(alice.id), null)
  t.match(await refusal(t, users.disableTotp('alice')), { code: 'OAUTH2_TOTP_NOT_ENROLLED', statusCode: 404, message: 'user "alice" has no TOTP second factor' })
  t.match(await refusal(t, users.enrollTotp('nobody')), { code: 'OAUTH2_USER_NOT_FOUND' })
  t.match(await refusal(t, users.disableTotp('a b')), { code: 'OAUTH2_USERNAME_INVALID' })
})

t.test('TOTP: a user\'s enrollment waits for a first code of its secret', async t => {
  const { store, users } = setup()
  const alice = await users.create({ username: 'alice', password: PASSWORD })
  t.match(await refusal(t, users.confirmTotpEnrollment('alice', '123456')), {
    code: 'OAUTH2_TOTP_NOT_ENROLLED', statusCode: 404, message: 'user "alice" has no TOTP enrollment waiting for a first code'
  })
  const { secret, uri } = await users.startTotpEnrollment('alice')
  t.match(uri, /^otpauth:\/\/totp\/oauth2-password:alice\?issuer=oauth2-password&/, 'named after the package without an issuer')
  t.equal((await store.findTotpEnrollment(alice.id))?.state, 'pending')
  t.match(await refusal(t, users.confirmTotpEnrollment('alice', '12345')), { code: 'OAUTH2_TOTP_CODE_INVALID', statusCode: 400 })
  const step = stepAt(Date.now())
  // Three steps before: outside the window even if the step turns meanwhile; the current one stays inside it.
  t.match(await refusal(t, users.confirmTotpEnrollment('alice', codeAt(secret, step - 3))), { code: 'OAUTH2_TOTP_CODE_INVALID' })
  const recoveryCodes = await users.confirmTotpEnrollment('alice', codeAt(secret, step))
  t.equal(recoveryCodes.length, 10)
  t.equal((await store.findTotpEnrollment(alice.id))?.state, 'active')
})

t.test('TOTP: secrets are stored encrypted with signingKeySecret, which is checked without being echoed', async t => {
  const store = new MemoryStore()
  const secretValue = 'a signing key secret of 32 chars or more'
  const users = createUsers({ store, argon2: CHEAP_ARGON2, signingKeySecret: secretValue })
  const alice = await users.create({ username: 'alice', password: PASSWORD })
  const { secret } = await users.enrollTotp('alice')
  const stored = (await store.findTotpEnrollment(alice.id))?.secret ?? ''
  t.match(stored, /^\$aes-256-gcm\$v=1\$/)
  t.equal(new KeyEncryption(secretValue).openTotpSecret(alice.id, stored), secret)

  t.throws(() => createUsers({ store, signingKeySecret: 'too short a secret' }), {
    name: 'RangeError', message: 'option "signingKeySecret" must be a string of at least 32 characters; received a string of 18 characters'
  })
  t.throws(() => createUsers({ store, issuer: 'auth.example.com' }), { name: 'RangeError', message: 'option "issuer" must be an http(s) URL; received "auth.example.com"' })
})

t.test('verifyEmail, sessions, endSession and endSessions, by username', async t => {
  const { store, users } = setup()
  const alice = await users.create({ username: 'alice', password: PASSWORD, email: 'alice@example.com' })
  await users.create({ username: 'bob', password: PASSWORD })
  await users.verifyEmail('ALICE')
  t.equal((await users.find('alice'))?.emailVerified, true)
  const missing = await refusal(t, users.verifyEmail('bob'))
  t.equal(missing.code, 'OAUTH2_EMAIL_MISSING')
  t.equal(missing.statusCode, 409)
  t.equal(missing.message, 'user "bob" has no e-mail address')

  const now = Date.now()
  for (const id of ['one', 'two']) {
    await store.createRefreshFamily({ id, userId: alice.id, clientId: 'web', scopes: [], tokenVersion: 0, createdAt: now, expiresAt: now + 60_000 },
      { hash: `${id}-token`, createdAt: now, expiresAt: now + 60_000 })
  }
  t.strictSame((await users.sessions('alice')).map(session => session.id).sort(), ['one', 'two'])
  await users.endSession('alice', 'one')
  t.strictSame((await users.sessions('alice')).map(session => session.id), ['two'])
  t.ok((await store.revocationsSince(now)).some(revocation => revocation.kind === 'refresh_family' && revocation.id === 'one'), 'instances learn of it')
  const unknown = await refusal(t, users.endSession('alice', 'one'))
  t.equal(unknown.code, 'OAUTH2_SESSION_NOT_FOUND')
  t.equal(unknown.statusCode, 404)
  t.equal((await refusal(t, users.endSession('bob', 'two'))).code, 'OAUTH2_SESSION_NOT_FOUND', 'another user\'s login is not found')
  await users.endSessions('alice')
  t.strictSame(await users.sessions('alice'), [])
  t.equal((await refusal(t, users.sessions('carol'))).code, 'OAUTH2_USER_NOT_FOUND')
})
