import type { RefreshFamily, RefreshToken, RotationResult, RotationTerms, UnmetTerm, User } from './types.js'

/**
 * What a store does with a refresh token it found, `token` of `family` for `user` (null when gone),
 * asked to rotate it on `terms` at `now`: answer without writing (any outcome but `rotated`), or
 * rotate it for `user`. Every store decides by it, in this order: the terms, whatever the token's
 * state; then the family's end; then reuse, reported however old the spent token is; then the
 * token's own expiry. PostgreSQL's rotation statement says the same in SQL.
 */
export function rotationDecision (
  token: Pick<RefreshToken, 'spentAt' | 'expiresAt'>,
  family: RefreshFamily,
  user: User | null,
  terms: RotationTerms,
  now: number
): Exclude<RotationResult, { outcome: 'rotated' }> | { outcome: 'rotate', user: User } {
  const refused = (unmet: UnmetTerm) => ({ outcome: 'refused', family, unmet }) as const
  if (family.clientId !== terms.clientId) return refused('client')
  if (family.jkt !== null && family.jkt !== terms.jkt) return refused('key')
  if (!terms.scopes.every(scope => family.scopes.includes(scope))) return refused('scope')
  // A password change or disabling ends every login made before it.
  if (user === null || user.disabled || user.tokenVersion !== family.tokenVersion) return refused('user')
  if (family.revokedAt !== null || family.expiresAt <= now) return { outcome: 'invalid' }
  if (token.spentAt !== null) return { outcome: 'spent', family, spentAt: token.spentAt }
  if (token.expiresAt <= now) return { outcome: 'invalid' }
  return { outcome: 'rotate', user }
}
