import { createPrivateKey } from 'node:crypto'
import t, { type Test } from 'tap'
import { KeyEncryption, KeyEncryptionError, isEncrypted } from '../../tokens/key-encryption.js'
import { generateSigningKey } from '../../tokens/keys.js'
import type { SigningKey } from '../../store/types.js'

const SECRET = 'an example secret of at least 32 characters'
const OTHER_SECRET = 'another secret, also at least 32 characters'

const key = generateSigningKey('ES256', 1000)
const der = createPrivateKey(key.privateKey).export({ type: 'pkcs8', format: 'der' })
const pemBody = key.privateKey.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, '')

/** Everything of the private key that must not show: its PEM armour and body, its DER, as text. */
function assertHidesKey (t: Test, text: string): void {
  t.notMatch(text, 'PRIVATE KEY')
  t.notMatch(text, pemBody.slice(0, 40))
  for (const encoding of ['base64', 'base64url', 'hex'] as const) t.notMatch(text, der.toString(encoding).slice(0, 40))
}

t.test('with a secret, a sealed key is the versioned encoding, and opens to the same key', async t => {
  const encryption = new KeyEncryption(SECRET)
  t.equal(encryption.enabled, true)
  const sealed = encryption.seal(key)
  t.match(sealed.privateKey, /^\$aes-256-gcm\$v=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{16}\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]{22}$/)
  t.strictSame({ ...sealed, privateKey: key.privateKey }, key, 'only the private key changes')
  t.ok(isEncrypted(sealed))
  t.notOk(isEncrypted(key))
  assertHidesKey(t, sealed.privateKey)
  t.strictSame(encryption.open(sealed), key)
  t.strictSame(new KeyEncryption(SECRET).open(sealed), key, 'another instance with the same secret opens it')
  t.not(encryption.seal(key).privateKey, sealed.privateKey, 'a fresh salt and nonce each time')
  t.strictSame(encryption.open(key), key, 'a key stored in clear is read as it is')
})

t.test('opens a key sealed by an independent implementation of the format (Python cryptography)', async t => {
  // HKDF-SHA-256(secret, salt 00..0f, "oauth2-password signing key") and AES-256-GCM with nonce 64..6f, the kid as AAD.
  const stored: SigningKey = {
    kid: '0f8c2d4e-6a1b-4c3d-8e5f-7a9b0c1d2e3f',
    alg: 'ES256',
    privateKey: '$aes-256-gcm$v=1$AAECAwQFBgcICQoLDA0ODw$ZGVmZ2hpamtsbW5v$gqSXJ-5xlyiFnb19F_xsyps2_b6ARY9faf0$xIS-W6nG9GcCxhGvYXrfjw',
    publicKey: 'unused',
    createdAt: 0
  }
  t.equal(new KeyEncryption(SECRET).open(stored).privateKey, 'stands in for a PKCS#8 PEM')
})

t.test('without a secret keys are stored as they are, and an encrypted one cannot be opened', async t => {
  const encryption = new KeyEncryption(undefined)
  t.equal(encryption.enabled, false)
  t.equal(encryption.seal(key), key)
  t.strictSame(encryption.open(key), key)
  const sealed = new KeyEncryption(SECRET).seal(key)
  t.throws(() => encryption.open(sealed), {
    name: 'KeyEncryptionError',
    message: `signing key ${key.kid} is encrypted in the store, and SIGNING_KEY_SECRET (the plugin's signingKeySecret option) is not set: every instance sharing the store needs the secret the keys were encrypted with`
  })
})

t.test('a wrong secret, another kid, or an altered value does not open, and the message shows no key material', async t => {
  const sealed = new KeyEncryption(SECRET).seal(key)
  const parts = sealed.privateKey.split('$')
  /** The sealed key with part `index` of its encoding (1 is the scheme) replaced. */
  const altered = (index: number, value: string): SigningKey => ({ ...sealed, privateKey: parts.map((part, i) => i === index ? value : part).join('$') })
  const flip = (part: string): string => Buffer.from(Buffer.from(part, 'base64url').map((byte, i) => i === 0 ? byte ^ 1 : byte)).toString('base64url')
  const wrong = /^signing key \S+ does not decrypt with this SIGNING_KEY_SECRET \(the plugin's signingKeySecret option\): it is not the secret the key was encrypted with, or the stored key was altered$/
  const cases: Array<{ name: string, open: () => SigningKey, message: RegExp }> = [
    { name: 'a wrong secret', open: () => new KeyEncryption(OTHER_SECRET).open(sealed), message: wrong },
    { name: 'the secret less its last character', open: () => new KeyEncryption(`${SECRET}!`).open(sealed), message: wrong },
    { name: 'moved to another kid', open: () => new KeyEncryption(SECRET).open({ ...sealed, kid: 'another-kid' }), message: wrong },
    { name: 'another salt', open: () => new KeyEncryption(SECRET).open(altered(3, flip(parts[3]!))), message: wrong },
    { name: 'another nonce', open: () => new KeyEncryption(SECRET).open(altered(4, flip(parts[4]!))), message: wrong },
    { name: 'an altered ciphertext', open: () => new KeyEncryption(SECRET).open(altered(5, flip(parts[5]!))), message: wrong },
    { name: 'an altered tag', open: () => new KeyEncryption(SECRET).open(altered(6, flip(parts[6]!))), message: wrong },
    { name: 'a truncated tag', open: () => new KeyEncryption(SECRET).open(altered(6, parts[6]!.slice(0, 20))), message: /is stored in an encoding this version cannot read$/ },
    { name: 'a later version', open: () => new KeyEncryption(SECRET).open(altered(2, 'v=2')), message: /is stored in an encoding this version cannot read$/ },
    { name: 'another scheme', open: () => new KeyEncryption(SECRET).open(altered(1, 'chacha20-poly1305')), message: /is stored in an encoding this version cannot read$/ }
  ]
  for (const { name, open, message } of cases) {
    t.test(name, async t => {
      let error: unknown
      try {
        open()
      } catch (thrown) {
        error = thrown
      }
      t.type(error, KeyEncryptionError)
      t.match((error as Error).message, message)
      const text = `${String(error)}\n${(error as Error).stack ?? ''}`
      assertHidesKey(t, text)
      for (const part of parts.slice(3)) t.notMatch(text, part, 'nor the stored value')
      t.notMatch(text, SECRET)
      t.notMatch(text, OTHER_SECRET)
    })
  }
})

t.test('a secret shorter than 32 characters is refused', async t => {
  t.throws(() => new KeyEncryption('x'.repeat(31)), RangeError)
  t.doesNotThrow(() => new KeyEncryption('x'.repeat(32)))
})

t.test('every algorithm\'s keys round-trip', async t => {
  const encryption = new KeyEncryption(SECRET)
  for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
    const generated = generateSigningKey(alg)
    t.strictSame(encryption.open(encryption.seal(generated)), generated, alg)
  }
})

t.test('TOTP secrets: sealed bound to their user, apart from signing keys, and as they are without a secret', async t => {
  const encryption = new KeyEncryption(SECRET)
  const alice = '11111111-1111-4111-8111-111111111111'
  const bob = '22222222-2222-4222-8222-222222222222'
  const totpSecret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'
  const sealed = encryption.sealTotpSecret(alice, totpSecret)
  t.match(sealed, /^\$aes-256-gcm\$v=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{16}\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]{22}$/)
  t.notMatch(sealed, totpSecret)
  t.not(encryption.sealTotpSecret(alice, totpSecret), sealed, 'a fresh salt and nonce each time')
  t.equal(encryption.openTotpSecret(alice, sealed), totpSecret)
  t.equal(new KeyEncryption(SECRET).openTotpSecret(alice, sealed), totpSecret, 'another instance with the same secret opens it')

  const refusals: Array<{ name: string, open: () => string, message: RegExp }> = [
    { name: 'moved to another user', open: () => encryption.openTotpSecret(bob, sealed), message: /^the TOTP secret of user \S+ does not decrypt with this SIGNING_KEY_SECRET/ },
    { name: 'a wrong secret', open: () => new KeyEncryption(OTHER_SECRET).openTotpSecret(alice, sealed), message: /does not decrypt/ },
    { name: 'no secret', open: () => new KeyEncryption(undefined).openTotpSecret(alice, sealed), message: /^the TOTP secret of user \S+ is encrypted in the store, and SIGNING_KEY_SECRET .* is not set$/ },
    {
      // Sealed as a signing key whose kid is the user id: the HKDF info keeps the kinds apart.
      name: 'a signing key sealed for the same id',
      open: () => encryption.openTotpSecret(alice, encryption.seal({ ...key, kid: alice, privateKey: totpSecret }).privateKey),
      message: /does not decrypt/
    }
  ]
  for (const { name, open, message } of refusals) {
    t.throws(open, { name: 'KeyEncryptionError', message }, name)
    try {
      open()
    } catch (error) {
      t.notMatch(`${String(error)}\n${(error as Error).stack ?? ''}`, totpSecret, `${name}: the message shows no secret`)
    }
  }
  t.throws(() => encryption.open({ ...key, kid: alice, privateKey: sealed }), { name: 'KeyEncryptionError' }, 'nor does a TOTP secret open as a signing key')

  const inClear = new KeyEncryption(undefined)
  t.equal(inClear.sealTotpSecret(alice, totpSecret), totpSecret, 'without a secret, stored as it is')
  t.equal(inClear.openTotpSecret(alice, totpSecret), totpSecret)
  t.equal(encryption.openTotpSecret(alice, totpSecret), totpSecret, 'one stored in clear before the secret was set is read as it is')
})
