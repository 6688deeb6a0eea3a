import t from 'tap'
import { VerifiedTokens } from '../../tokens/verified-tokens.js'
import type { AccessTokenClaims } from '../../tokens/access.js'

const NOW = 1_800_000_000_000

const claims = (scope: string, exp = NOW / 1000 + 900): AccessTokenClaims => ({
  iss: 'https://a', sub: 'u1', aud: 'https://a', exp, iat: NOW / 1000, jti: 'j', scope, client_id: 'c', ver: 0, sid: 'f'
})

t.test('a verified token is found again, with its scopes split once', async t => {
  const cache = new VerifiedTokens(5000)
  const token = `header.payload.${'s'.repeat(86)}`
  t.equal(cache.get(token, NOW), undefined, 'nothing before it is added')
  const added = cache.set(token, claims('me items'), NOW)
  t.strictSame(added.scopes, ['me', 'items'])
  t.equal(cache.get(token, NOW + 1000), added, 'found again')
  t.strictSame(cache.set(`h.p.${'e'.repeat(86)}`, claims(''), NOW).scopes, [], 'an empty scope is no scope')
})

t.test('a token whose signature ends like a verified one is not taken for it', async t => {
  const cache = new VerifiedTokens(5000)
  const signatureEnd = 'x'.repeat(40)
  const token = `header.payload.${signatureEnd}`
  cache.set(token, claims('me'), NOW)
  t.equal(cache.get(`header.forged-payload.${signatureEnd}`, NOW), undefined, 'compared in full')
  t.equal(cache.get(`xheader.payload.${signatureEnd}`, NOW), undefined)
  t.ok(cache.get(token, NOW), 'and the verified one is still found')
})

t.test('an entry lives the TTL, never past the token\'s exp', async t => {
  const cache = new VerifiedTokens(5000)
  const long = `a.b.${'l'.repeat(43)}`
  const short = `a.b.${'s'.repeat(43)}`
  cache.set(long, claims('me'), NOW)
  cache.set(short, claims('me', NOW / 1000 + 2), NOW)
  t.ok(cache.get(short, NOW + 1999))
  t.equal(cache.get(short, NOW + 2000), undefined, 'gone at its exp')
  t.ok(cache.get(long, NOW + 4999))
  t.equal(cache.get(long, NOW + 5000), undefined, 'gone after the TTL')
})

t.test('bounded: when full, the oldest goes', async t => {
  const cache = new VerifiedTokens(5000, 2)
  const tokens = ['a', 'b', 'c'].map(c => `h.p.${c.repeat(43)}`)
  for (const token of tokens) cache.set(token, claims('me'), NOW)
  t.equal(cache.get(tokens[0] ?? '', NOW), undefined)
  t.ok(cache.get(tokens[1] ?? '', NOW))
  t.ok(cache.get(tokens[2] ?? '', NOW))
})
