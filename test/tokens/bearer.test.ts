import t from 'tap'
import {
  InsufficientScopeError, InvalidDPoPProofError, InvalidTokenError, MalformedRequestError, MissingTokenError,
  authorizationHeader, bearerToken, challenge, isDPoPScheme
} from '../../tokens/bearer.js'

const REALM = 'https://auth.example.test'

t.test('challenge: only the attributes of its RFC 6750 §3 row, or RFC 9449 §7.1 with DPoP algorithms', async t => {
  t.equal(challenge(REALM, new MissingTokenError()), `Bearer realm="${REALM}"`, 'no credentials: no error attribute')
  t.equal(challenge(REALM, new MalformedRequestError('Two tokens')), `Bearer realm="${REALM}", error="invalid_request", error_description="Two tokens"`)
  t.equal(challenge(REALM, new InvalidTokenError('The access token expired')), `Bearer realm="${REALM}", error="invalid_token", error_description="The access token expired"`)
  t.equal(challenge(REALM, new InsufficientScopeError(), ['me', 'items']), `Bearer realm="${REALM}", error="insufficient_scope", scope="me items"`, 'every scope the route needs, no description')
  t.equal(challenge(REALM, new InvalidTokenError('Bound to a key'), [], 'ES256 EdDSA'), 'DPoP algs="ES256 EdDSA", error="invalid_token", error_description="Bound to a key"')
  t.equal(challenge(REALM, new InvalidDPoPProofError('The proof expired'), [], 'ES256'), 'DPoP algs="ES256", error="invalid_dpop_proof", error_description="The proof expired"')
  t.equal(challenge(REALM, new MissingTokenError(), [], 'ES256'), 'DPoP algs="ES256"')
})

t.test('the errors carry their stable codes and statuses', async t => {
  const errors = [new MissingTokenError(), new MalformedRequestError('x'), new InvalidTokenError('x'), new InsufficientScopeError(), new InvalidDPoPProofError('x')]
  t.strictSame(errors.map(error => [error.code, error.statusCode]), [
    ['OAUTH2_TOKEN_MISSING', 401], ['OAUTH2_INVALID_REQUEST', 400], ['OAUTH2_INVALID_TOKEN', 401], ['OAUTH2_INSUFFICIENT_SCOPE', 403], ['OAUTH2_INVALID_DPOP_PROOF', 401]
  ])
})

t.test('authorizationHeader: the one Authorization header, whatever the case of its name', async t => {
  t.equal(authorizationHeader(['Host', 'a', 'authorization', 'Bearer abc']), 'Bearer abc')
  t.equal(authorizationHeader(['AUTHORIZATION', '']), '', 'an empty one is there')
  t.throws(() => authorizationHeader(['Host', 'a']), { code: 'OAUTH2_TOKEN_MISSING' })
  t.throws(() => authorizationHeader(['Authorization', 'Bearer a', 'authorization', 'Bearer b']), { code: 'OAUTH2_INVALID_REQUEST', message: 'More than one Authorization header' })
})

t.test('isDPoPScheme: the DPoP scheme in any case, not a scheme that starts like it', async t => {
  for (const value of ['DPoP abc', 'dpop abc', ' DPOP abc', 'DPoP']) t.ok(isDPoPScheme(value), value)
  for (const value of ['Bearer abc', 'DPoPx abc', 'Basic DPoP', '']) t.notOk(isDPoPScheme(value), value)
})

t.test('bearerToken: exactly one token of RFC 6750 §2.1 characters, after a scheme in any case', async t => {
  t.equal(bearerToken('Bearer abc.DEF-_~+/=='), 'abc.DEF-_~+/==')
  t.equal(bearerToken('  bearer   abc  '), 'abc', 'spaces around and between are allowed')
  t.equal(bearerToken('DPoP abc', 'dpop'), 'abc')
  const refusals: Array<[string, 'bearer' | 'dpop', string, string?]> = [
    ['Basic abc', 'bearer', 'OAUTH2_TOKEN_MISSING'],
    ['DPoP abc', 'bearer', 'OAUTH2_TOKEN_MISSING'],
    ['Bearer abc', 'dpop', 'OAUTH2_TOKEN_MISSING'],
    ['Bearer', 'bearer', 'OAUTH2_INVALID_REQUEST', 'The Bearer scheme takes exactly one token'],
    ['Bearer a b', 'bearer', 'OAUTH2_INVALID_REQUEST', 'The Bearer scheme takes exactly one token'],
    ['DPoP a b', 'dpop', 'OAUTH2_INVALID_REQUEST', 'The DPoP scheme takes exactly one token'],
    ['Bearer a=b', 'bearer', 'OAUTH2_INVALID_REQUEST', 'The bearer token has characters RFC 6750 does not allow'],
    ['Bearer =abc', 'bearer', 'OAUTH2_INVALID_REQUEST'],
    ['DPoP a"b', 'dpop', 'OAUTH2_INVALID_REQUEST', 'The DPoP token has characters RFC 6750 does not allow']
  ]
  for (const [value, expected, code, message] of refusals) {
    t.throws(() => bearerToken(value, expected), { code, ...(message === undefined ? {} : { message }) }, `${expected}: ${value}`)
  }
})
