import { invalidScope } from '../oauth/errors.js'

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

export function isScopeToken (scope: string): boolean {
  return SCOPE_TOKEN.test(scope)
}

/** Parses a space-delimited `scope` parameter; absent or empty means none asked (docs/contract.md §9). */
export function parseScope (scope: string | undefined): string[] {
  if (scope === undefined || scope === '') return []
  const scopes = scope.split(' ')
  if (!scopes.every(isScopeToken)) throw invalidScope('scope must be space-delimited scope tokens')
  return [...new Set(scopes)]
}

/**
 * What to grant when `requested` is asked of someone allowed `allowed`: all of `allowed` when
 * nothing is asked, else `requested`, provided each of it is allowed.
 */
export function grantScopes (requested: readonly string[], allowed: readonly string[]): string[] {
  if (requested.length === 0) return [...allowed]
  const refused = requested.filter(scope => !allowed.includes(scope))
  if (refused.length > 0) throw invalidScope(`scope not allowed: ${refused.join(' ')}`)
  return [...requested]
}
