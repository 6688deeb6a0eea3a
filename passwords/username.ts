// One canonical form for usernames, shared by the CLI and POST /token, so that look-alikes that
// Unicode compatibility-normalises together ("ｊｏｈｎ", "John") name one account.

export const USERNAME_MAX_LENGTH = 128

/**
 * NFKC, then case folding, then NFKC again because folding can leave a string that is not in NFKC.
 * JavaScript has no full case fold: lower, upper, lower approximates it ("ẞ", "ß" and "SS" all
 * become "ss"), and applying the whole function twice changes nothing for any code point.
 */
export function canonicalUsername (username: string): string {
  return username.normalize('NFKC').toLowerCase().toUpperCase().toLowerCase().normalize('NFKC')
}

/** Why `username` (canonical) cannot be an account name, or null when it can. */
export function usernameProblem (username: string): string | null {
  const length = [...username].length
  if (length === 0) return 'username is empty'
  if (length > USERNAME_MAX_LENGTH) return `username is longer than ${USERNAME_MAX_LENGTH} characters`
  if (/[\p{Cc}\p{Cf}\p{Z}\s]/u.test(username)) return 'username contains white space or control characters'
  return null
}
