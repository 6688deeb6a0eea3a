import { Type, type Static } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH } from '../passwords/hasher.js'
import { USERNAME_MAX_LENGTH } from '../passwords/username.js'
import { documented } from './responses.js'

// The JSON bodies of the account endpoints. Lengths are bounded here so that nothing larger reaches
// a check or a hash; the finer rules (username, password policy) answer with their own error codes.

/** RFC 5321 §4.5.3.1: no longer path (less its angle brackets) is deliverable. */
export const EMAIL_MAX_LENGTH = 254

/** One-time codes are 43 characters of base64url; anything far longer is no code. */
const CODE_MAX_LENGTH = 256

const password = (description: string) => Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH, description })
const code = Type.String({ minLength: 1, maxLength: CODE_MAX_LENGTH, description: 'The code from the e-mail' })

// `maxLength` counts UTF-16 units and a username's limit code points: a username of 128 astral
// characters is 256 units. Anything between is refused by the username rules themselves.
const username = Type.String({ minLength: 1, maxLength: 4 * USERNAME_MAX_LENGTH, description: 'Compared after NFKC and case folding' })
const email = Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH, description: 'An e-mail address' })

export const ChangePasswordRequest = Type.Object({
  current_password: password('The password the user logs in with now'),
  new_password: password('The new password: the password policy applies')
}, { additionalProperties: false })
export type ChangePasswordRequest = Static<typeof ChangePasswordRequest>

export const LogoutRequest = Type.Object({
  all: Type.Optional(Type.Boolean({ description: '`true` ends every login of the user, not only this one' }))
}, { additionalProperties: false })
export type LogoutRequest = Static<typeof LogoutRequest>

export const Session = Type.Object({
  id: Type.String({ description: 'The login\'s id (its refresh family), the `sid` of its access tokens' }),
  client_id: Type.String({ description: 'The client the user logged in through' }),
  created_at: Type.String({ format: 'date-time', description: 'When the user logged in' }),
  last_used_at: Type.String({ format: 'date-time', description: 'When the login was last refreshed (or made)' }),
  current: Type.Boolean({ description: 'Whether the bearer token of this request belongs to this login' })
})
export type Session = Static<typeof Session>

export const Sessions = Type.Array(Session, { description: 'The user\'s live logins, most recently used first' })

export const SessionParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'A login\'s id, from `GET /sessions`' })
})
export type SessionParams = Static<typeof SessionParams>

export const RegisterRequest = Type.Object({
  username,
  password: password('The password: the password policy applies'),
  email: Type.Optional(email),
  full_name: Type.Optional(Type.String({ maxLength: 256 }))
}, { additionalProperties: false })
export type RegisterRequest = Static<typeof RegisterRequest>

/** The new user, as `/users/me` shows a user, with the scopes they may be granted. */
export const RegisteredUser = Type.Object({
  username: Type.String({ description: 'Canonical: NFKC and case folded' }),
  email: Type.Union([Type.String(), Type.Null()]),
  full_name: Type.Union([Type.String(), Type.Null()]),
  disabled: Type.Boolean(),
  scopes: Type.Array(Type.String(), { description: 'The scopes the user may be granted' })
})
export type RegisteredUser = Static<typeof RegisteredUser>

export const CodeRequest = Type.Object({ code }, { additionalProperties: false })
export type CodeRequest = Static<typeof CodeRequest>

/** Who a code is for: a username or an e-mail address, one of the two (checked by `accountOf`). */
export const AccountRequest = Type.Object({
  username: Type.Optional(username),
  email: Type.Optional(email)
}, { additionalProperties: false })
export type AccountRequest = Static<typeof AccountRequest>

export const ResetPasswordRequest = Type.Object({
  code,
  password: password('The new password: the password policy applies')
}, { additionalProperties: false })
export type ResetPasswordRequest = Static<typeof ResetPasswordRequest>

export const AccountErrorResponse = Type.Object({
  error: Type.String({ description: 'An error code (README, "Account endpoints")' }),
  error_description: Type.String()
}, { $id: 'AccountError' })

/** A response of the account endpoints whose body is an `AccountError`. */
export const accountError = (description: string, headers?: Parameters<typeof documented>[2]) =>
  documented({ $ref: 'AccountError#' }, description, headers)

export const NoContent = Type.Null({ description: 'Done' })

export const Accepted = Type.Object({}, { additionalProperties: false, description: 'Taken: a code goes out by e-mail if an account fits, and the answer is the same whether one does or not' })
