import t, { type Test } from 'tap'
import { FORM_BODY_LIMIT } from '../../plugins/auth/form.js'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { build, addUser, PASSWORD } from '../helper.js'
import { hashClientSecret } from '../../clients/secrets.js'

// hostile requests to POST /token, each answered with the docs/contract.md §3 error it names,
// in RFC 6749 §5.2's format. test/routes/token.test.ts has the plainer cases.

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
/** The token endpoints' documented body limit. */
const BODY_LIMIT = FORM_BODY_LIMIT
const CLIENT = 'backend'
const SECRET = 'secret of the backend'

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString()
const passwordGrant = (fields: Record<string, string> = {}): Record<string, string> =>
  ({ grant_type: 'password', username: 'johndoe', password: PASSWORD, ...fields })
const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

/** A multipart/form-data body with these fields, as a browser would send the login form. */
function multipart (fields: Record<string, string>): { payload: string, headers: Record<string, string> } {
  const boundary = '----hostile'
  const parts = Object.entries(fields).map(([name, value]) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
  return { payload: `${parts.join('')}--${boundary}--\r\n`, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

/** Status, `Cache-Control: no-store`, and a body of exactly `error` and `error_description`. */
function assertOAuthError (t: Test, response: LightMyRequestResponse, status: number, error: string): void {
  t.equal(response.statusCode, status, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.strictSame(Object.keys(body).sort(), ['error', 'error_description'])
  t.equal(body.error, error)
  t.type(body.error_description, 'string')
  t.notMatch(response.body, PASSWORD, 'the password is never echoed')
}

t.test('hostile token requests', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  await app.authStore.createClient({ id: CLIENT, secretHash: hashClientSecret(SECRET), scopes: ['me', 'items'], createdAt: Date.now() })
  const grant = form(passwordGrant())

  const cases: Array<{ name: string, request: InjectOptions, status: number, error: string }> = [
    // Repeated parameters: RFC 6749 §3.2 forbids them.
    { name: 'repeated password', request: { payload: `${grant}&password=other` }, status: 400, error: 'invalid_request' },
    { name: 'repeated password, one of them empty', request: { payload: `${grant}&password=` }, status: 400, error: 'invalid_request' },
    { name: 'repeated scope', request: { payload: `${grant}&scope=me&scope=items` }, status: 400, error: 'invalid_request' },
    { name: 'repeated client_id', request: { payload: `${grant}&client_id=${CLIENT}&client_id=${CLIENT}` }, status: 400, error: 'invalid_request' },
    // An unknown parameter is ignored (§3.2), so the array syntax of some frameworks names no username.
    { name: 'username[]=johndoe', request: { payload: form({ grant_type: 'password', 'username[]': 'johndoe', password: PASSWORD }) }, status: 400, error: 'invalid_request' },

    // Empty values count as omitted (§3.1).
    { name: 'empty grant_type', request: { payload: form(passwordGrant({ grant_type: '' })) }, status: 400, error: 'invalid_request' },
    { name: 'every parameter empty', request: { payload: 'grant_type=&username=&password=' }, status: 400, error: 'invalid_request' },
    { name: 'keys without values', request: { payload: 'grant_type&username&password' }, status: 400, error: 'invalid_request' },

    // Missing fields.
    { name: 'grant_type=password alone', request: { payload: 'grant_type=password' }, status: 400, error: 'invalid_request' },
    { name: 'only unknown parameters', request: { payload: 'user=johndoe&pass=x' }, status: 400, error: 'invalid_request' },

    // grant_type is compared exactly: no case folding, trimming or normalisation.
    { name: 'grant_type=Password', request: { payload: form(passwordGrant({ grant_type: 'Password' })) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'grant_type=Refresh_Token', request: { payload: form(passwordGrant({ grant_type: 'Refresh_Token' })) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'grant_type with a trailing space', request: { payload: form(passwordGrant({ grant_type: 'password ' })) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'grant_type with a trailing NUL', request: { payload: form(passwordGrant({ grant_type: 'password\0' })) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'grant_type in full-width letters (NFKC folds it)', request: { payload: form(passwordGrant({ grant_type: 'ｐａｓｓｗｏｒｄ' })) }, status: 400, error: 'unsupported_grant_type' },
    // Past the schema's bounds a value is refused before it is read.
    { name: 'grant_type of 65 characters', request: { payload: form(passwordGrant({ grant_type: 'p'.repeat(65) })) }, status: 400, error: 'invalid_request' },

    // The body size limit.
    { name: `a body one byte over ${BODY_LIMIT} bytes`, request: { payload: `${grant}&x=${'a'.repeat(BODY_LIMIT - grant.length - 2)}` }, status: 413, error: 'invalid_request' },

    // Bodies and content types other than a form (RFC 6749 §3.2).
    { name: 'multipart/form-data with the login fields', request: multipart(passwordGrant()), status: 400, error: 'invalid_request' },
    { name: 'application/json; charset=utf-8', request: { payload: JSON.stringify(passwordGrant()), headers: { 'content-type': 'application/json; charset=utf-8' } }, status: 400, error: 'invalid_request' },
    // Read as a form, a JSON body is one unknown parameter.
    { name: 'a JSON body labelled as a form', request: { payload: JSON.stringify(passwordGrant()) }, status: 400, error: 'invalid_request' },
    { name: 'a form labelled text/plain', request: { payload: grant, headers: { 'content-type': 'text/plain' } }, status: 400, error: 'invalid_request' },
    { name: 'a form with no content type', request: { payload: grant, headers: { 'content-type': undefined } }, status: 400, error: 'invalid_request' },
    { name: 'an empty content type', request: { payload: grant, headers: { 'content-type': '' } }, status: 400, error: 'invalid_request' },
    { name: 'a content type that starts like a form', request: { payload: grant, headers: { 'content-type': 'application/x-www-form-urlencodedx' } }, status: 400, error: 'invalid_request' },
    { name: 'a form subtype without its type', request: { payload: grant, headers: { 'content-type': 'x-www-form-urlencoded' } }, status: 400, error: 'invalid_request' },
    { name: 'application/xml', request: { payload: '<grant_type>password</grant_type>', headers: { 'content-type': 'application/xml' } }, status: 400, error: 'invalid_request' },

    // NUL bytes and control characters: an unknown user or a wrong password, never a 500.
    { name: 'a NUL inside the username', request: { payload: form(passwordGrant({ username: 'john\0doe' })) }, status: 400, error: 'invalid_grant' },
    { name: 'a NUL after the username', request: { payload: form(passwordGrant({ username: 'johndoe\0' })) }, status: 400, error: 'invalid_grant' },
    // A C string would end at the NUL and match: argon2 must hash the whole password.
    { name: 'the password, a NUL and more', request: { payload: form(passwordGrant({ password: `${PASSWORD}\0more` })) }, status: 400, error: 'invalid_grant' },
    { name: 'a password of one NUL', request: { payload: form(passwordGrant({ password: '\0' })) }, status: 400, error: 'invalid_grant' },
    { name: 'CR LF in the username (log injection)', request: { payload: form(passwordGrant({ username: 'johndoe\r\n{"level":60}' })) }, status: 400, error: 'invalid_grant' },
    { name: 'an ANSI escape in the username', request: { payload: form(passwordGrant({ username: '\u001b[31mjohndoe' })) }, status: 400, error: 'invalid_grant' },
    { name: 'a zero-width space in the username', request: { payload: form(passwordGrant({ username: 'john\u200bdoe' })) }, status: 400, error: 'invalid_grant' },
    { name: 'a right-to-left override in the username', request: { payload: form(passwordGrant({ username: '\u202eeodnhoj' })) }, status: 400, error: 'invalid_grant' },
    { name: 'percent-escapes of invalid UTF-8', request: { payload: 'grant_type=password&username=%C0%AFjohndoe&password=%ED%A0%80%FF' }, status: 400, error: 'invalid_grant' },
    { name: 'a NUL in client_id', request: { payload: form(passwordGrant({ client_id: `${CLIENT}\0`, client_secret: SECRET })) }, status: 401, error: 'invalid_client' },

    // Overlong values: past the schema's bounds (1024) invalid_request, within them a failed login.
    { name: 'a username of 1025 characters', request: { payload: form(passwordGrant({ username: 'j'.repeat(1025) })) }, status: 400, error: 'invalid_request' },
    { name: 'a username of 1025 astral characters', request: { payload: form(passwordGrant({ username: '𝐣'.repeat(1025) })) }, status: 400, error: 'invalid_request' },
    { name: 'a password of 1025 characters', request: { payload: form(passwordGrant({ password: 'p'.repeat(1025) })) }, status: 400, error: 'invalid_request' },
    { name: 'a username of 1024 characters', request: { payload: form(passwordGrant({ username: 'j'.repeat(1024) })) }, status: 400, error: 'invalid_grant' },
    { name: 'a password of 1024 characters', request: { payload: form(passwordGrant({ password: 'p'.repeat(1024) })) }, status: 400, error: 'invalid_grant' },
    // U+FDFA is one character that NFKC turns into 18: normalisation must not lift the bound.
    { name: 'a username of 1024 characters that NFKC expands 18-fold', request: { payload: form(passwordGrant({ username: '\ufdfa'.repeat(1024) })) }, status: 400, error: 'invalid_grant' },
    { name: 'a password of 1024 characters that NFKC expands 18-fold', request: { payload: form(passwordGrant({ password: '\ufdfa'.repeat(1024) })) }, status: 400, error: 'invalid_grant' },

    // Look-alikes that NFKC does not fold are other usernames.
    { name: 'Cyrillic ј and о in the username', request: { payload: form(passwordGrant({ username: '\u0458\u043ehndoe' })) }, status: 400, error: 'invalid_grant' },

    // Client credentials in both places (RFC 6749 §2.3.1).
    {
      name: 'Basic and the same client_id in the body',
      request: { payload: form(passwordGrant({ client_id: CLIENT })), headers: { authorization: basic(CLIENT, SECRET) } },
      status: 400,
      error: 'invalid_request'
    },
    {
      name: 'Basic and client_secret in the body',
      request: { payload: form(passwordGrant({ client_secret: SECRET })), headers: { authorization: basic(CLIENT, SECRET) } },
      status: 400,
      error: 'invalid_request'
    },
    {
      name: 'Basic and a body client with its secret',
      request: { payload: form(passwordGrant({ client_id: CLIENT, client_secret: SECRET })), headers: { authorization: basic('first-party', '') } },
      status: 400,
      error: 'invalid_request'
    }
  ]

  cases.forEach(({ name, request, status, error }, index) => {
    t.test(name, async t => {
      const response = await app.inject({
        method: 'POST',
        url: '/token',
        // An address of its own, so that no case counts towards another's failed-login limit.
        remoteAddress: `192.0.2.${index + 1}`,
        ...request,
        headers: { ...FORM, ...request.headers }
      })
      assertOAuthError(t, response, status, error)
    })
  })

  t.test(`a body of exactly ${BODY_LIMIT} bytes is read`, async t => {
    const payload = `${grant}&x=${'a'.repeat(BODY_LIMIT - grant.length - 3)}`
    t.equal(Buffer.byteLength(payload), BODY_LIMIT)
    const response = await app.inject({ method: 'POST', url: '/token', payload, headers: FORM })
    t.equal(response.statusCode, 200, response.body)
  })

  t.test('the largest parameters the schema allows fit in the body limit', async t => {
    const payload = form({
      ...passwordGrant({ username: '\ufdfa'.repeat(1024), password: '\ufdfa'.repeat(1024), scope: 's'.repeat(4096) }),
      refresh_token: 'r'.repeat(16384),
      client_id: 'c'.repeat(256),
      client_secret: 's'.repeat(1024)
    })
    t.ok(Buffer.byteLength(payload) < BODY_LIMIT)
  })

  // Empty values count as omitted (RFC 6749 §3.1), so these log in.
  const accepted: Array<{ name: string, request: InjectOptions }> = [
    { name: 'an empty client_id', request: { payload: form(passwordGrant({ client_id: '' })) } },
    { name: 'an empty client_secret and no client_id', request: { payload: form(passwordGrant({ client_secret: '' })) } },
    { name: 'Basic and an empty client_id in the body', request: { payload: form(passwordGrant({ client_id: '' })), headers: { authorization: basic(CLIENT, SECRET) } } },
    { name: 'an unknown parameter and an empty key', request: { payload: `${grant}&foo=bar&=x&&` } },
    { name: 'a form content type in capitals', request: { payload: grant, headers: { 'content-type': 'APPLICATION/X-WWW-FORM-URLENCODED' } } },
    // Look-alikes that NFKC folds together are one username (docs/contract.md §7), and one password (NIST SP 800-63B-4).
    { name: 'the username in mathematical bold', request: { payload: form(passwordGrant({ username: '𝐣𝐨𝐡𝐧𝐝𝐨𝐞' })) } },
    { name: 'the username with a circled j', request: { payload: form(passwordGrant({ username: 'ⓙohndoe' })) } },
    { name: 'the password in full-width letters', request: { payload: form(passwordGrant({ password: PASSWORD.replace('correct', 'ｃｏｒｒｅｃｔ') })) } }
  ]
  for (const { name, request } of accepted) {
    t.test(name, async t => {
      const response = await app.inject({ method: 'POST', url: '/token', ...request, headers: { ...FORM, ...request.headers } })
      t.equal(response.statusCode, 200, response.body)
      t.equal(response.headers['cache-control'], 'no-store')
      t.equal(response.json().token_type, 'bearer')
    })
  }
})
