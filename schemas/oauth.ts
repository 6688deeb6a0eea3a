import { Type, type Static } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH } from '../passwords/hasher.js'
import { documented, header } from './responses.js'

// Parameters are plain strings: a repeated one arrives as an array and fails the schema, which
// RFC 6749 §3.2 requires (`invalid_request`). Unknown parameters are ignored, as §3.2 says.
const parameter = (description: string, maxLength = 4096) => Type.Optional(Type.String({ description, maxLength }))

export const TokenRequest = Type.Object({
  grant_type: Type.String({ description: '`password` or `refresh_token`', maxLength: 64 }),
  username: parameter('The resource owner\'s username (password grant)', 1024),
  password: parameter('The resource owner\'s password (password grant)', PASSWORD_MAX_LENGTH),
  scope: parameter('Space-delimited scopes; none asks for every scope the user has'),
  totp: parameter('For a user with a second factor (password grant): the 6-digit code of their authenticator app (RFC 6238), or one of their recovery codes', 64),
  refresh_token: parameter('The refresh token (refresh_token grant)', 16384),
  client_id: parameter('The client, when it authenticates in the body', 256),
  client_secret: parameter('The client\'s secret, when it authenticates in the body', 1024)
}, { additionalProperties: true })
export type TokenRequest = Static<typeof TokenRequest>

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  // One enum rather than a union of literals, which the OpenAPI document would show as anyOf.
  token_type: Type.Unsafe<'bearer' | 'DPoP'>({
    type: 'string', enum: ['bearer', 'DPoP'], description: '`DPoP` when the request had a DPoP proof (RFC 9449 §5), else `bearer`'
  }),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
  refresh_token: Type.String({ description: 'Opaque; rotates on every use' }),
  scope: Type.String({ description: 'The scopes granted, space-delimited' })
})
export type TokenResponse = Static<typeof TokenResponse>

export const OAuthErrorResponse = Type.Object({
  error: Type.String({ description: 'An RFC 6749 §5.2 error code' }),
  error_description: Type.String()
}, { $id: 'OAuthError' })
export type OAuthErrorResponse = Static<typeof OAuthErrorResponse>

/** A response of the OAuth endpoints whose body is an `OAuthError` (registered by plugins/auth/endpoints.ts). */
export const oauthError = (description: string, headers?: Parameters<typeof documented>[2]) =>
  documented({ $ref: 'OAuthError#' }, description, headers)

/** What a client whose authentication failed gets back when it tried HTTP Basic (RFC 6749 §5.2). */
export const BASIC_CHALLENGE = { 'WWW-Authenticate': header('A `Basic` challenge, when the client tried HTTP Basic') }

/** How many seconds to wait before trying again (RFC 9110 §10.2.3). */
export const RETRY_AFTER = { 'Retry-After': header('Seconds to wait before trying again') }

/** RFC 6749 §5.1: nothing the token endpoints answer may be cached. */
export const NO_STORE = {
  'Cache-Control': header('`no-store`'),
  Pragma: header('`no-cache`')
}

export const Jwks = Type.Object({
  keys: Type.Array(Type.Object({
    kid: Type.String(),
    kty: Type.String(),
    alg: Type.String(),
    use: Type.String()
  }, { additionalProperties: true }))
})

export const RevocationRequest = Type.Object({
  token: Type.String({ description: 'An access token or a refresh token', minLength: 1, maxLength: 16384 }),
  token_type_hint: parameter('`access_token` or `refresh_token`; a hint only', 64),
  client_id: parameter('The client, when it authenticates in the body', 256),
  client_secret: parameter('The client\'s secret, when it authenticates in the body', 1024)
}, { additionalProperties: true })
export type RevocationRequest = Static<typeof RevocationRequest>

/** RFC 7662 §2.2: only `active` for a token that is not live; the claims for one that is. */
export const IntrospectionResponse = Type.Object({
  active: Type.Boolean(),
  scope: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  token_type: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  cnf: Type.Optional(Type.Object({ jkt: Type.String() }, { description: 'The DPoP key the token is bound to (RFC 9449 §6.2)' }))
})
export type IntrospectionResponse = Static<typeof IntrospectionResponse>

export const ServerMetadata = Type.Object({
  issuer: Type.String(),
  token_endpoint: Type.String(),
  jwks_uri: Type.String(),
  revocation_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  scopes_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  dpop_signing_alg_values_supported: Type.Array(Type.String())
})
