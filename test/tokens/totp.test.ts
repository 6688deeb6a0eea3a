import { createHash } from 'node:crypto'
import t from 'tap'
import {
  RECOVERY_CODE_COUNT, hashRecoveryCode, matchingStep, newRecoveryCodes, newTotpSecret, timeStep, totpUri
} from '../../tokens/totp.js'
import { base32Decode, codeAt, hotp } from '../totp-codes.js'

// The RFC 6238 algorithm as the server runs it (otpauth), against the RFC's own test vectors and an
// independent implementation (test/totp-codes.ts, node:crypto by hand).

/** RFC 6238 Appendix B: the SHA-1 key, the ASCII of "12345678901234567890", in base32. */
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
/** RFC 6238 Appendix B, SHA-1 rows: the time in seconds and the 8-digit TOTP. */
const RFC_VECTORS: Array<[seconds: number, totp: string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130']
]

t.test('the independent implementation gives the RFC 6238 test vectors', async t => {
  t.equal(base32Decode(RFC_SECRET).toString('ascii'), '12345678901234567890')
  for (const [seconds, expected] of RFC_VECTORS) {
    t.equal(hotp(base32Decode(RFC_SECRET), Math.floor(seconds / 30), 8), expected, `T = ${seconds}`)
  }
})

t.test('the server accepts the RFC 6238 codes (their last six digits) at their time, and names their step', async t => {
  for (const [seconds, expected] of RFC_VECTORS) {
    const now = seconds * 1000
    t.equal(matchingStep(RFC_SECRET, expected.slice(-6), now), Math.floor(seconds / 30), `T = ${seconds}`)
    t.equal(timeStep(now), Math.floor(seconds / 30))
  }
})

t.test('a code of one step before or after is accepted and named by its own step; two steps off, it is not', async t => {
  const now = 1111111111 * 1000
  const step = Math.floor(now / 30_000)
  for (const offset of [-1, 0, 1]) {
    t.equal(matchingStep(RFC_SECRET, codeAt(RFC_SECRET, step + offset), now), step + offset, `offset ${offset}`)
  }
  const accepted = [-1, 0, 1].map(offset => codeAt(RFC_SECRET, step + offset))
  for (const offset of [-3, -2, 2, 3]) {
    const code = codeAt(RFC_SECRET, step + offset)
    t.notOk(accepted.includes(code), `offset ${offset}: a code of its own, none of the three accepted`)
    t.equal(matchingStep(RFC_SECRET, code, now), null, `offset ${offset}`)
  }
})

t.test('agrees with the independent implementation on random secrets and times', async t => {
  for (let round = 0; round < 200; round++) {
    const secret = newTotpSecret()
    const now = Math.floor(Math.random() * 4_000_000_000_000)
    t.equal(matchingStep(secret, codeAt(secret, Math.floor(now / 30_000)), now), Math.floor(now / 30_000))
  }
})

t.test('only six digits are a code', async t => {
  const secret = newTotpSecret()
  const now = 1_700_000_015_000
  const code = codeAt(secret, Math.floor(now / 30_000))
  for (const wrong of ['', code.slice(1), `${code}0`, ` ${code}`, `${code}\n`, code.replace(/^./, 'a'), '１２３４５６', '12345e']) {
    t.equal(matchingStep(secret, wrong, now), null, JSON.stringify(wrong))
  }
})

t.test('a new secret is 160 random bits in base32', async t => {
  const secrets = new Set(Array.from({ length: 50 }, () => newTotpSecret()))
  t.equal(secrets.size, 50, 'all different')
  for (const secret of secrets) {
    t.match(secret, /^[A-Z2-7]{32}$/)
    t.equal(base32Decode(secret).length, 20)
  }
})

t.test('the otpauth:// URI names the issuer and user, and carries the secret and the parameters', async t => {
  const secret = newTotpSecret()
  const uri = new URL(totpUri(secret, 'auth.example.com', 'alice@example.com'))
  t.equal(uri.protocol, 'otpauth:')
  t.equal(uri.host, 'totp')
  t.equal(decodeURIComponent(uri.pathname), '/auth.example.com:alice@example.com')
  t.strictSame(Object.fromEntries(uri.searchParams), {
    issuer: 'auth.example.com', secret, algorithm: 'SHA1', digits: '6', period: '30'
  })
})

t.test('recovery codes: ten, each 80 random bits in four groups, kept as the SHA-256 of their characters', async t => {
  const codes = newRecoveryCodes()
  t.equal(codes.length, RECOVERY_CODE_COUNT)
  t.equal(RECOVERY_CODE_COUNT, 10)
  t.equal(new Set(codes).size, 10, 'all different')
  for (const code of codes) t.match(code, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/)

  const [code = ''] = codes
  const plain = code.replaceAll('-', '')
  const expected = createHash('sha256').update(plain).digest('base64url')
  t.equal(hashRecoveryCode(code), expected)
  for (const typed of [plain, code.toUpperCase(), ` ${code.replaceAll('-', ' ')} `, `${plain.slice(0, 8)}-${plain.slice(8)}`]) {
    t.equal(hashRecoveryCode(typed), expected, `typed as ${JSON.stringify(typed)}`)
  }
  for (const wrong of ['', '123456', plain.slice(1), `${plain}0`, plain.replace(/^./, 'i'), plain.replace(/^./, 'u'), plain.replace(/^./, '_')]) {
    t.equal(hashRecoveryCode(wrong), null, JSON.stringify(wrong))
  }
})
