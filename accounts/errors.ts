// The refusals of the account endpoints, as data, in the token endpoint's format: their error
// handler turns any of them into `{ error, error_description }` with its status and headers.

import { ErrorResponse, type OAuthErrorCode } from '../oauth/errors.js'

export type AccountErrorCode =
  | OAuthErrorCode
  /** RFC 6750 §3.1, for the endpoints that take a bearer token. */
  | 'invalid_token'
  | 'insufficient_scope'
  /** The new password breaks a rule of the password policy, which the description names. */
  | 'weak_password'
  | 'invalid_username'
  | 'username_taken'
  | 'not_found'
  | 'server_error'

export class AccountError extends ErrorResponse<AccountErrorCode> {}

/** Too many requests of one kind from one address (or for one account); RFC 6749 has no code of its own for it. */
export const tooManyRequests = (retryAfter: number): AccountError =>
  new AccountError('invalid_request', 'Too many requests; retry later', 429, { 'retry-after': String(retryAfter) })
