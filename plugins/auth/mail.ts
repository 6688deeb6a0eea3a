import type { FastifyBaseLogger } from 'fastify'
import type { CodePurpose, Store, User } from '../../store/types.js'
import { canonicalUsername, usernameProblem } from '../../passwords/username.js'
import { CODE_LIFETIMES, newCode } from '../../accounts/codes.js'
import type { MailKind, Mailer } from '../../accounts/mailer.js'
import type { AccountRequest } from '../../schemas/accounts.js'
import { AccountError } from '../../accounts/errors.js'

// What the endpoints that send a code share: making the code and mailing it, and finding the
// accounts a request for one names.

const KINDS: Record<CodePurpose, MailKind> = { verify_email: 'verifyEmail', reset_password: 'resetPassword' }

/** An account that asks for one request's codes: at most this many share one address. */
const MAX_ACCOUNTS_PER_ADDRESS = 10

/**
 * Stores a new code for `purpose` and mails it to the user's address; rejects with
 * MailUnavailableError when the server did not take it, the stored code then never reaching anyone.
 */
export async function sendCode (store: Store, mailer: Mailer, issuer: string, user: Pick<User, 'id' | 'username'> & { email: string }, purpose: CodePurpose): Promise<void> {
  const now = Date.now()
  const code = newCode()
  const expiresAt = now + CODE_LIFETIMES[purpose] * 1000
  await store.createOneTimeCode({ hash: code.hash, purpose, userId: user.id, email: user.email, createdAt: now, expiresAt })
  await mailer.send(user.email, KINDS[purpose], { username: user.username, code: code.value, expiresAt: new Date(expiresAt), issuer })
}

/** Who a request for a code names: a username or an e-mail address; throws `invalid_request` for both or neither. */
export function accountOf (request: AccountRequest): { username: string } | { email: string } {
  const { username, email } = request
  if ((username === undefined) === (email === undefined)) throw new AccountError('invalid_request', 'Give either a username or an e-mail address')
  return username !== undefined ? { username } : { email: email! }
}

/** The accounts a request names: the user of a username (canonicalised), or the users of an address. */
export async function accountsNamed (store: Store, named: { username: string } | { email: string }): Promise<User[]> {
  if ('username' in named) {
    const username = canonicalUsername(named.username)
    const user = usernameProblem(username) === null ? await store.findUserByUsername(username) : null
    return user === null ? [] : [user]
  }
  return (await store.findUsersByEmail(named.email)).slice(0, MAX_ACCOUNTS_PER_ADDRESS)
}

/** The audit line of a code that went out, or of one that could not; never the code. */
export function logSent (log: FastifyBaseLogger, event: string, user: User, error?: unknown): void {
  if (error === undefined) log.info({ audit: 'account', event, userId: user.id, username: user.username }, `account: ${event.replaceAll('_', ' ')}`)
  else log.warn({ audit: 'account', event: `${event}_failed`, userId: user.id, username: user.username, err: error }, 'an account e-mail could not be sent')
}
