import { createHash, timingSafeEqual } from 'node:crypto'
import type { PasswordHasher } from '../passwords/hasher.js'

// Client secrets are high-entropy (at least 32 random characters), so a slow hash buys nothing
// against guessing them, and would make every client authentication a hashing job that anyone who
// knows a client id can queue. They are kept as a SHA-256 digest and compared in constant time.

const PREFIX = 'sha256:'

/** What a client's secret is stored as. */
export function hashClientSecret (secret: string): string {
  return PREFIX + createHash('sha256').update(secret, 'utf8').digest('base64url')
}

/** Whether `stored` was made before client secrets were digests (an argon2 PHC string): it is replaced once the secret is shown. */
export function isArgon2ClientSecret (stored: string): boolean {
  return !stored.startsWith(PREFIX)
}

/** Whether `secret` is the one `stored` was made from; an argon2 hash of earlier versions is still verified as such. */
export async function verifyClientSecret (stored: string, secret: string, hasher: PasswordHasher): Promise<boolean> {
  if (isArgon2ClientSecret(stored)) return await hasher.verify(stored, secret)
  const expected = Buffer.from(stored, 'utf8')
  const actual = Buffer.from(hashClientSecret(secret), 'utf8')
  // Both are the prefix and 43 base64url characters unless the stored value is damaged.
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
