import { createHash, randomBytes } from 'node:crypto'

// One-time codes, e-mailed to verify an address or reset a password: 256 random bits, so that no
// guessing needs a limit, and kept only as their SHA-256, so that the store cannot give them away.

/** How long a code lives: a reset code 30 minutes; a verification code a day, since the mail may wait in an inbox. */
export const CODE_LIFETIMES = { verify_email: 24 * 60 * 60, reset_password: 30 * 60 } as const

export function hashCode (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

export function newCode (): { value: string, hash: string } {
  const value = randomBytes(32).toString('base64url')
  return { value, hash: hashCode(value) }
}
