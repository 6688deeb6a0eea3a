import { createHash, randomBytes } from 'node:crypto'

/** SHA-256, base64url: the only form of a refresh token that is ever stored. */
export function hashRefreshToken (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

/** A new opaque refresh token of 256 random bits, and its hash. */
export function newRefreshToken (): { value: string, hash: string } {
  const value = randomBytes(32).toString('base64url')
  return { value, hash: hashRefreshToken(value) }
}
