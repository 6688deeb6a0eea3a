import { Type, type Static } from '@sinclair/typebox'
import { documented, header } from './responses.js'

/** Fastify's error object, the body of every refusal of a protected route (docs/contract.md §4). */
// Every field optional and extra ones kept: the schema documents the error, and it also becomes the
// serializer of a host's protected routes, whose own error handler may answer with another shape.
export const BearerErrorResponse = Type.Object({
  statusCode: Type.Optional(Type.Integer()),
  code: Type.Optional(Type.String({ description: 'A stable code, such as `OAUTH2_INSUFFICIENT_SCOPE`' })),
  error: Type.Optional(Type.String({ description: 'The status text' })),
  message: Type.Optional(Type.String())
}, {
  $id: 'BearerError',
  additionalProperties: true,
  description: 'Fastify\'s error object `{ statusCode, code, error, message }`; the RFC 6750 challenge is in `WWW-Authenticate`'
})
export type BearerErrorResponse = Static<typeof BearerErrorResponse>

const challenge = (description: string) => ({ 'WWW-Authenticate': header(description) })
const body = { $ref: 'BearerError#' }

/** The refusals of `authenticate` (RFC 6750 §3), and its answer when it cannot check, for every route it protects. */
export const BearerErrorResponses = {
  400: documented(body, 'The Authorization header is malformed',
    challenge('`Bearer realm="…", error="invalid_request", error_description="…"`')),
  401: documented(body, 'No bearer token, or one that is invalid, expired or revoked; with DPoP (RFC 9449), a missing or bad proof',
    challenge('`Bearer realm="…"` when no token was sent, else with `error="invalid_token", error_description="…"`; ' +
      'for the DPoP scheme or a DPoP-bound token, `DPoP algs="…", error="invalid_token"` or `error="invalid_dpop_proof"`')),
  403: documented(body, 'The access token lacks a scope this route needs',
    challenge('`Bearer realm="…", error="insufficient_scope", scope="…"` with every scope the route needs')),
  503: documented(body, 'The store does not answer (`STORE_UNAVAILABLE`)',
    { 'Retry-After': header('Seconds to wait before trying again') })
}

/** The name of the OpenAPI security scheme that protected routes refer to. */
export const SECURITY_SCHEME = 'OAuth2PasswordBearer'

/** OpenAPI 3's OAuth2 security scheme with the password flow, whose token endpoint also refreshes. */
export interface OAuth2PasswordSecurityScheme {
  type: 'oauth2'
  flows: { password: { tokenUrl: string, refreshUrl: string, scopes: Record<string, string> } }
}

export function securityScheme (scopes: Record<string, string>, tokenUrl: string): OAuth2PasswordSecurityScheme {
  return { type: 'oauth2', flows: { password: { tokenUrl, refreshUrl: tokenUrl, scopes } } }
}
