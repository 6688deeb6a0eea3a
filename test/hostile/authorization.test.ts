import t from 'tap'
import { build, addUser, login } from '../helper.js'

// Authorization headers on the protected routes, by the rows of docs/contract.md §4.
// test/routes/protected.test.ts has the plainer ones (no header, Basic, several spaces, case).

const REALM = 'Bearer realm="http://127.0.0.1:3000"'
const INVALID_REQUEST = new RegExp(`^${REALM}, error="invalid_request", error_description="[^"\\\\]+"$`)

type Row = 'missing' | 'malformed' | 'accepted' | 'unbound'

t.test('hostile Authorization headers', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const { access_token: token } = await login(app, 'johndoe')

  const cases: Array<{ name: string, authorization: string | string[], row: Row }> = [
    // RFC 9110 §11.4 separates the scheme from its credentials with spaces only: with anything else
    // the header names some other scheme, which is "no credentials" (401, no error attribute).
    { name: 'a tab between Bearer and the token', authorization: `Bearer\t${token}`, row: 'missing' },
    { name: 'no space between Bearer and the token', authorization: `Bearer${token}`, row: 'missing' },
    { name: 'a no-break space between Bearer and the token', authorization: `Bearer\u00a0${token}`, row: 'missing' },
    { name: 'a colon after Bearer', authorization: `Bearer: ${token}`, row: 'missing' },
    // The DPoP scheme is another scheme this server takes, for tokens bound to a key only (RFC 9449 §7.1).
    { name: 'the DPoP scheme with the token', authorization: `DPoP ${token}`, row: 'unbound' },
    { name: 'a scheme name of 8000 characters', authorization: `${'B'.repeat(8000)} ${token}`, row: 'missing' },

    // Spaces around the field value are not part of it (RFC 9110 §5.5), and the scheme is case-insensitive.
    { name: 'trailing spaces', authorization: `Bearer ${token}   `, row: 'accepted' },
    { name: 'leading spaces', authorization: `   Bearer ${token}`, row: 'accepted' },
    { name: 'a trailing tab', authorization: `Bearer ${token}\t`, row: 'accepted' },
    { name: 'bEaReR in mixed case', authorization: `bEaReR ${token}`, row: 'accepted' },

    // A Bearer header that is not `Bearer <b64token>` is malformed (docs/contract.md §4, §9): 400 invalid_request.
    { name: 'two Authorization headers, the first empty', authorization: ['', `Bearer ${token}`], row: 'malformed' },
    { name: 'two Authorization headers, the second empty', authorization: [`Bearer ${token}`, ''], row: 'malformed' },
    { name: 'two credentials in one header, comma-separated', authorization: `Bearer ${token}, Basic Og==`, row: 'malformed' },
    { name: 'a comma inside the token', authorization: 'Bearer abc,def', row: 'malformed' },
    { name: 'the token in double quotes', authorization: `Bearer "${token}"`, row: 'malformed' },
    { name: 'a double quote inside the token', authorization: 'Bearer abc"def', row: 'malformed' },
    { name: 'auth-params instead of a token', authorization: 'Bearer realm="x"', row: 'malformed' },
    { name: 'a backslash in the token', authorization: 'Bearer abc\\def', row: 'malformed' },
    { name: 'a Latin-1 letter in the token', authorization: 'Bearer t\u00f6ken', row: 'malformed' },
    { name: 'a semicolon after the token', authorization: `Bearer ${token};`, row: 'malformed' }
  ]

  for (const { name, authorization, row } of cases) {
    t.test(name, async t => {
      for (const url of ['/users/me', '/users/me/items', '/status']) {
        // Capitalised, the name is not one of Node's typed headers, so it may take an array: the header sent twice.
        const response = await app.inject({ url, headers: { Authorization: authorization } })
        if (row === 'accepted') {
          t.equal(response.statusCode, 200, `${url}: ${response.body}`)
          t.equal(response.headers['www-authenticate'], undefined)
          continue
        }
        const body = response.json()
        t.strictSame(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
        if (row === 'missing') {
          t.equal(response.statusCode, 401, `${url}: ${response.body}`)
          t.equal(body.code, 'OAUTH2_TOKEN_MISSING')
          t.equal(response.headers['www-authenticate'], REALM)
        } else if (row === 'unbound') {
          t.equal(response.statusCode, 401, `${url}: ${response.body}`)
          t.equal(body.code, 'OAUTH2_INVALID_TOKEN')
          t.match(response.headers['www-authenticate'], /^DPoP algs="[^"]+", error="invalid_token", error_description="[^"\\]+"$/)
        } else {
          t.equal(response.statusCode, 400, `${url}: ${response.body}`)
          t.equal(body.code, 'OAUTH2_INVALID_REQUEST')
          t.match(response.headers['www-authenticate'], INVALID_REQUEST)
        }
      }
    })
  }
})
