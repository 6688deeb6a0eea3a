import t from 'tap'
import { grantScopes, isScopeToken, parseScope } from '../../tokens/scopes.js'

t.test('isScopeToken: RFC 6749 §3.3 characters, at least one', async t => {
  for (const scope of ['me', 'orders:read', 'a!#[]~', 'https://api.example.test/read']) t.ok(isScopeToken(scope), scope)
  for (const scope of ['', 'a b', 'a"b', 'a\\b', 'é', 'a\tb', '\x7f']) t.notOk(isScopeToken(scope), JSON.stringify(scope))
})

t.test('parseScope: space-delimited tokens without repeats; absent or empty asks for none', async t => {
  t.strictSame(parseScope(undefined), [])
  t.strictSame(parseScope(''), [])
  t.strictSame(parseScope('me items me'), ['me', 'items'], 'in the order asked, once each')
  for (const scope of [' me', 'me ', 'me  items', 'me\titems', 'me "items"']) {
    t.throws(() => parseScope(scope), { name: 'OAuthError', error: 'invalid_scope', message: 'scope must be space-delimited scope tokens' }, JSON.stringify(scope))
  }
})

t.test('grantScopes: everything allowed when nothing is asked, else what is asked if all of it is allowed', async t => {
  t.strictSame(grantScopes([], ['me', 'items']), ['me', 'items'])
  t.strictSame(grantScopes(['items'], ['me', 'items']), ['items'])
  t.strictSame(grantScopes([], []), [])
  t.throws(() => grantScopes(['me', 'admin', 'root'], ['me']), { name: 'OAuthError', error: 'invalid_scope', message: 'scope not allowed: admin root' })
  const allowed = ['me']
  grantScopes([], allowed).push('items')
  t.strictSame(allowed, ['me'], 'a copy, never the allowed list itself')
})
