import type { User } from '../store/types.js'
import type { LoginLimiter } from '../limits/login.js'
import type { SecondFactor } from '../users/second-factor.js'
import { invalidGrant, type OAuthError } from '../oauth/errors.js'
import type { LoginOutcome } from './audit.js'
import type { GrantRequest } from './grant.js'

/** What a password login of a user with a second factor gets without a code: the app knows to ask for one. */
export const CODE_REQUIRED = 'A one-time code is required'
/** One description for a wrong code and a replayed one. */
export const WRONG_CODE = 'The one-time code is wrong or was used already'

/**
 * The second factor of a password login whose password was right: null when the user has none or
 * `code` (the `totp` parameter) passed it; otherwise the refusal and its audit outcome. A missing code
 * is no failed guess, since the password was right and the app will now ask for the code, so its
 * attempt is taken back, though the address does not become known for the user; a wrong code stays
 * counted as a failed login. The caller calls the limiter's `succeeded` only once this returned null.
 */
export async function secondFactorRefusal (
  { secondFactor, limiter }: { secondFactor: SecondFactor, limiter: LoginLimiter },
  request: Pick<GrantRequest, 'ip'>,
  username: string,
  user: User,
  code: string | undefined
): Promise<{ outcome: LoginOutcome, error: OAuthError } | null> {
  let check
  try {
    check = await secondFactor.check(user.id, code, Date.now())
  } catch (error) {
    // The code was never checked (the store failing): the attempt is not a failure.
    await limiter.abandoned(username, request.ip).catch(() => {})
    throw error
  }
  if (check === 'missing') {
    await limiter.abandoned(username, request.ip)
    return { outcome: 'code_missing', error: invalidGrant(CODE_REQUIRED) }
  }
  if (check === 'wrong') return { outcome: 'wrong_code', error: invalidGrant(WRONG_CODE) }
  return null
}
