import type { RefreshFamily, RotationTerms, UnmetTerm, User } from './types.js'

/**
 * The first of `terms` that `family` and its `user` (null when gone) fail, or null when they meet
 * them all. Every store decides a rotation by it; PostgreSQL's statement says the same in SQL, and
 * the store names the unmet term by it afterwards.
 */
export function unmetTerm (family: RefreshFamily, user: User | null, terms: RotationTerms): UnmetTerm | null {
  if (family.clientId !== terms.clientId) return 'client'
  if (family.jkt !== null && family.jkt !== terms.jkt) return 'key'
  if (!terms.scopes.every(scope => family.scopes.includes(scope))) return 'scope'
  // A password change or disabling ends every login made before it.
  if (user === null || user.disabled || user.tokenVersion !== family.tokenVersion) return 'user'
  return null
}
