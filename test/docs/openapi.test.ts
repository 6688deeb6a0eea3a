import t from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import type { OpenAPIV3 } from 'openapi-types'
import { build, addUser, PASSWORD } from '../helper.js'

const PROTECTED: Record<string, string[]> = {
  '/users/me': ['me'],
  '/users/me/items': ['me', 'items'],
  '/status': []
}
/** The account endpoints that take a bearer token: any token of the user, whatever its scopes. */
const ACCOUNT: Record<string, string> = {
  '/sessions': '200',
  '/sessions/{id}': '204',
  '/logout': '204',
  '/password/change': '204'
}
const UNPROTECTED = ['/health', '/token', '/revoke', '/introspect', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server']
/** The second factor's routes (SPEC §15): a bearer token of the user, any scope; JSON bodies, and errors in the OAuth format. */
const TOTP = ['/totp/enroll', '/totp/confirm', '/totp']

/** The one operation of a path, whatever its method. */
function operation (document: OpenAPIV3.Document, path: string): OpenAPIV3.OperationObject {
  const item = document.paths[path]
  const found = item?.get ?? item?.post ?? item?.delete
  if (found === undefined) throw new Error(`${path} is not documented`)
  return found
}

/** A response as @fastify/swagger writes it: never a $ref at this level. */
function response (document: OpenAPIV3.Document, path: string, status: string): OpenAPIV3.ResponseObject {
  const found = operation(document, path).responses[status]
  if (found === undefined || '$ref' in found) throw new Error(`${path} documents no ${status}`)
  return found
}

function bodySchema (document: OpenAPIV3.Document, path: string, status: string): unknown {
  return response(document, path, status).content?.['application/json']?.schema
}

t.test('/docs/json', async t => {
  const { app } = await build(t)
  const served = await app.inject({ url: '/docs/json' })
  t.equal(served.statusCode, 200)
  const document = served.json<OpenAPIV3.Document>()

  t.test('validates against the OpenAPI 3.0 schema, and every $ref resolves', async t => {
    const validator = new Validator()
    // A copy: resolveRefs replaces the references in the document it validated.
    const result = await validator.validate(structuredClone(document) as unknown as Record<string, unknown>)
    t.same(result.errors, undefined)
    t.ok(result.valid)
    t.equal(validator.version, '3.0')
    t.doesNotThrow(() => validator.resolveRefs())
  })

  t.test('documents exactly the routes of docs/contract.md §2, §3, §5, §13 and §15, as the contract names them', async t => {
    t.same(Object.keys(document.paths).sort(), [...Object.keys(PROTECTED), ...Object.keys(ACCOUNT), ...UNPROTECTED, ...TOTP].sort())
  })

  t.test('the second factor\'s routes need a bearer token of any scope, take JSON, and document their refusals as OAuth errors', async t => {
    t.same(Object.keys(document.paths['/totp'] ?? {}), ['delete'])
    for (const path of TOTP) {
      const described = operation(document, path)
      t.same(described.security, [{ OAuth2PasswordBearer: [] }], path)
      const statuses = path === '/totp' ? ['204', '400', '401', '409', '429', '503'] : ['200', '400', '401', '409', '503']
      for (const status of statuses.slice(1)) t.same(bodySchema(document, path, status), { $ref: '#/components/schemas/OAuthError' }, `${path} ${status}`)
      if (path !== '/totp/enroll') t.same(Object.keys((described.requestBody as OpenAPIV3.RequestBodyObject).content), ['application/json'], path)
    }
    t.match(bodySchema(document, '/totp/enroll', '200'), { required: ['secret', 'otpauth_uri'] })
    t.match(bodySchema(document, '/totp/confirm', '200'), { required: ['recovery_codes'], properties: { recovery_codes: { type: 'array' } } })
    t.ok(response(document, '/totp', '429').headers?.['Retry-After'])
  })

  t.test('each account endpoint that takes a bearer token requires one, and answers its refusals as the others do', async t => {
    for (const [path, success] of Object.entries(ACCOUNT)) {
      t.same(operation(document, path).security, [{ OAuth2PasswordBearer: [] }], path)
      t.ok(response(document, path, success), `${path} ${success}`)
      for (const status of ['400', '401', '403', '503']) {
        t.same(bodySchema(document, path, status), { $ref: '#/components/schemas/AccountError' }, `${path} ${status}`)
      }
      t.ok(response(document, path, '401').headers?.['WWW-Authenticate'], path)
    }
    t.match(document.components?.schemas?.AccountError, { type: 'object', required: ['error', 'error_description'] })
  })

  t.test('the security scheme is the OAuth2 password flow with the scope catalogue', async t => {
    t.same(document.components?.securitySchemes, {
      OAuth2PasswordBearer: {
        type: 'oauth2',
        flows: {
          password: {
            tokenUrl: '/token',
            refreshUrl: '/token',
            scopes: { me: 'Read information about the current user.', items: 'Read items.' }
          }
        }
      }
    })
  })

  t.test('each protected route requires its own scopes and documents every refusal with its challenge, and the store failing', async t => {
    for (const [path, scopes] of Object.entries(PROTECTED)) {
      t.same(operation(document, path).security, [{ OAuth2PasswordBearer: scopes }], path)
      t.same(Object.keys(operation(document, path).responses).sort(), ['200', '400', '401', '403', '503'], path)
      for (const status of ['400', '401', '403']) {
        t.same(bodySchema(document, path, status), { $ref: '#/components/schemas/BearerError' }, `${path} ${status}`)
        t.match(response(document, path, status).headers?.['WWW-Authenticate'], { schema: { type: 'string' }, description: /^`Bearer realm=/ }, `${path} ${status}`)
      }
      t.same(bodySchema(document, path, '503'), { $ref: '#/components/schemas/BearerError' }, `${path} 503`)
      t.ok(response(document, path, '503').headers?.['Retry-After'], `${path} 503`)
    }
    t.match(response(document, '/users/me', '403').headers?.['WWW-Authenticate'], { description: /insufficient_scope/ })
  })

  t.test('the Fastify error object is a named schema with its four fields', async t => {
    t.match(document.components?.schemas?.BearerError, {
      type: 'object',
      properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } }
    })
  })

  t.test('the OAuth endpoints and the unprotected routes carry no security requirement', async t => {
    for (const path of UNPROTECTED) t.equal(operation(document, path).security, undefined, path)
  })

  t.test('the token endpoint takes its TypeBox form body and documents every answer', async t => {
    const token = operation(document, '/token')
    const requestBody = token.requestBody as OpenAPIV3.RequestBodyObject
    t.same(Object.keys(requestBody.content), ['application/x-www-form-urlencoded'])
    const form = requestBody.content['application/x-www-form-urlencoded']?.schema as OpenAPIV3.SchemaObject
    t.same(form.required, ['grant_type'])
    t.same(Object.keys(form.properties ?? {}), ['grant_type', 'username', 'password', 'scope', 'totp', 'refresh_token', 'client_id', 'client_secret'])
    t.match(form.properties?.totp, { type: 'string', maxLength: 64, description: /second factor.*6-digit.*recovery code/ }, 'Try it out can send a one-time code')

    t.same(Object.keys(token.responses).sort(), ['200', '400', '401', '413', '429', '503'])
    t.match(bodySchema(document, '/token', '200'), {
      required: ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope'],
      properties: { token_type: { enum: ['bearer', 'DPoP'] } }
    })
    t.ok(response(document, '/token', '200').headers?.['Cache-Control'])
    for (const status of ['400', '401', '413', '429', '503']) {
      t.same(bodySchema(document, '/token', status), { $ref: '#/components/schemas/OAuthError' }, status)
    }
    t.ok(response(document, '/token', '429').headers?.['Retry-After'])
    t.ok(response(document, '/token', '503').headers?.['Retry-After'])
    t.ok(response(document, '/token', '401').headers?.['WWW-Authenticate'])
  })

  t.test('revocation and introspection document their 503 when the store fails', async t => {
    for (const path of ['/revoke', '/introspect']) {
      t.same(bodySchema(document, path, '503'), { $ref: '#/components/schemas/OAuthError' }, path)
      t.ok(response(document, path, '503').headers?.['Retry-After'], path)
    }
  })

  t.test('the health check documents which service does not answer', async t => {
    t.same(Object.keys(operation(document, '/health').responses).sort(), ['200', '503'])
    t.match(bodySchema(document, '/health', '503'), { properties: { status: { type: 'string' }, unavailable: { type: 'array' } } })
  })

  t.test('the RFC 6749 error object appears under its own name', async t => {
    t.match(document.components?.schemas?.OAuthError, { type: 'object', required: ['error', 'error_description'] })
    t.notMatch(JSON.stringify(document), /def-\d/)
  })

  t.test('every operation has a summary, a tag and a described success', async t => {
    for (const path of Object.keys(document.paths)) {
      const described = operation(document, path)
      t.type(described.summary, 'string', path)
      t.ok(described.tags?.length, path)
      t.ok(described.responses['200'] ?? described.responses['201'] ?? described.responses['202'] ?? described.responses['204'], path)
      for (const [status, answer] of Object.entries(described.responses)) {
        t.not((answer as OpenAPIV3.ResponseObject).description, 'Default Response', `${path} ${status}`)
      }
    }
  })
})

t.test('a protected route\'s refusal still has Fastify\'s four fields, now that its schema serializes it', async t => {
  const { app } = await build(t)
  const refused = await app.inject({ url: '/users/me' })
  t.equal(refused.statusCode, 401)
  t.same(refused.json(), {
    statusCode: 401,
    code: 'OAUTH2_TOKEN_MISSING',
    error: 'Unauthorized',
    message: 'No bearer token in the Authorization header'
  })
})

t.test('Swagger UI\'s login, with its default `Authorization: Basic Og==`, gets tokens (docs/contract.md §3)', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const response = await app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic Og==' },
    payload: new URLSearchParams({ grant_type: 'password', username: 'johndoe', password: PASSWORD, scope: 'me' }).toString()
  })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['www-authenticate'], undefined)
  t.equal(response.json().scope, 'me')
})

t.test('with registration open and mail on, the account endpoints without a bearer token are documented too, with no security requirement', async t => {
  const { app } = await build(t, { REGISTRATION: 'open', SMTP_URL: 'smtp://127.0.0.1:2525', MAIL_FROM: 'auth@example.test' })
  const document = (await app.inject({ url: '/docs/json' })).json<OpenAPIV3.Document>()
  const validator = new Validator()
  const result = await validator.validate(structuredClone(document) as unknown as Record<string, unknown>)
  t.same(result.errors, undefined)
  const open: Record<string, string> = {
    '/register': '201',
    '/email/verify': '204',
    '/email/verify/resend': '202',
    '/password/forgot': '202',
    '/password/reset': '204'
  }
  t.same(Object.keys(document.paths).sort(), [...Object.keys(PROTECTED), ...Object.keys(ACCOUNT), ...Object.keys(open), ...UNPROTECTED, ...TOTP].sort())
  for (const [path, success] of Object.entries(open)) {
    const described = operation(document, path)
    t.equal(described.security, undefined, path)
    t.equal(described.tags?.[0], 'accounts', path)
    t.ok(response(document, path, success), `${path} ${success}`)
    t.same(bodySchema(document, path, '400'), { $ref: '#/components/schemas/AccountError' }, `${path} 400`)
    t.same(Object.keys((described.requestBody as OpenAPIV3.RequestBodyObject).content), ['application/json'], `${path} takes JSON`)
  }
  t.ok(response(document, '/register', '409'))
  t.ok(response(document, '/password/forgot', '429').headers?.['Retry-After'])
})
