// RFC 6749 §5.2 errors of the token endpoints, as data: the route's error handler turns any of them
// into `{ error, error_description }` with its status and headers, and anything else into a 500
// that says nothing.

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'temporarily_unavailable'
  | 'invalid_dpop_proof'

/**
 * An error answered as `{ error, error_description }` with its status and headers: RFC 6749 §5.2's
 * format, which the account endpoints (accounts/errors.ts) answer in too, with codes of their own.
 */
export class ErrorResponse<Code extends string> extends Error {
  readonly error: Code
  readonly statusCode: number
  readonly headers: Record<string, string>

  constructor (error: Code, description: string, statusCode = 400, headers: Record<string, string> = {}) {
    super(description)
    this.name = new.target.name
    this.error = error
    this.statusCode = statusCode
    this.headers = headers
  }

  toJSON (): { error: Code, error_description: string } {
    return { error: this.error, error_description: this.message }
  }
}

export class OAuthError extends ErrorResponse<OAuthErrorCode> {}

export const invalidRequest = (description: string): OAuthError => new OAuthError('invalid_request', description)
export const invalidGrant = (description: string): OAuthError => new OAuthError('invalid_grant', description)
export const invalidScope = (description: string): OAuthError => new OAuthError('invalid_scope', description)
export const unsupportedGrantType = (description: string): OAuthError => new OAuthError('unsupported_grant_type', description)
/** RFC 9449 §5: the DPoP proof of a token request fails a check. */
export const invalidDPoPProof = (description: string): OAuthError => new OAuthError('invalid_dpop_proof', description)

/** 401; when the client tried HTTP Basic, the challenge tells it to try again the same way (RFC 6749 §5.2). */
export const invalidClient = (description: string, usedBasic: boolean): OAuthError =>
  new OAuthError('invalid_client', description, 401, usedBasic ? { 'www-authenticate': 'Basic realm="token", charset="UTF-8"' } : {})

/** docs/contract.md §3: too many failed logins; RFC 6749 has no code of its own for it. */
export const tooManyAttempts = (retryAfter: number): OAuthError =>
  new OAuthError('invalid_request', 'Too many failed login attempts; retry later', 429, { 'retry-after': String(retryAfter) })

export const temporarilyUnavailable = (description: string, retryAfter: number): OAuthError =>
  new OAuthError('temporarily_unavailable', description, 503, { 'retry-after': String(retryAfter) })
