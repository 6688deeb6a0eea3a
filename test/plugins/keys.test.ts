import t from 'tap'
import { JwtVerifiers } from '../../plugins/auth/keys.js'
import { AccessTokenIssuer, verificationRules } from '../../tokens/access.js'
import { KeyRing, generateSigningKey } from '../../tokens/keys.js'

const ISSUER = 'https://auth.example.com'

t.test('JwtVerifiers: one @fastify/jwt per key in force, made before its ring and ended after it', async t => {
  const older = generateSigningKey('ES256', 1000)
  const newer = generateSigningKey('EdDSA', 2000)
  const signedBy = (key: typeof older): string => new AccessTokenIssuer({ issuer: ISSUER, audience: ISSUER, ttl: 900, keys: () => new KeyRing([key]) })
    .issue({ userId: 'u1', tokenVersion: 0, scopes: ['me'], clientId: 'c', familyId: 'f' }).token
  const verifiers = new JwtVerifiers(verificationRules(ISSUER, ISSUER))
  t.teardown(async () => await verifiers.close())

  await verifiers.update(new KeyRing([older]))
  t.match(verifiers.verify(signedBy(older), older), { sub: 'u1', iss: ISSUER }, 'a token of the key in force verifies')
  t.throws(() => verifiers.verify(signedBy(newer), newer), /no verifier for signing key/, 'a key not yet in a ring has no verifier')

  await verifiers.update(new KeyRing([newer, older]))
  t.match(verifiers.verify(signedBy(newer), newer), { sub: 'u1' }, 'a new key verifies once its ring is made')
  t.match(verifiers.verify(signedBy(older), older), { sub: 'u1' }, 'the older key still verifies its tokens')
  t.throws(() => verifiers.verify(signedBy(newer), older), { code: 'FAST_JWT_INVALID_SIGNATURE' }, 'each key verifies only its own signatures')

  await verifiers.update(new KeyRing([newer]))
  t.throws(() => verifiers.verify(signedBy(older), older), /no verifier for signing key/, 'a retired key verifies nothing')
  t.match(verifiers.verify(signedBy(newer), newer), { sub: 'u1' })

  const foreign = new AccessTokenIssuer({ issuer: 'https://elsewhere.example.com', audience: ISSUER, ttl: 900, keys: () => new KeyRing([newer]) })
    .issue({ userId: 'u1', tokenVersion: 0, scopes: [], clientId: 'c', familyId: 'f' }).token
  t.throws(() => verifiers.verify(foreign, newer), { code: 'FAST_JWT_INVALID_CLAIM_VALUE' }, 'the rules apply: another issuer is refused')

  await verifiers.close()
  t.throws(() => verifiers.verify(signedBy(newer), newer), /no verifier for signing key/, 'closed, it verifies nothing')
})
