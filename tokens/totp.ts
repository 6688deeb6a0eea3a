import { createHash, randomInt } from 'node:crypto'
import { Secret, TOTP } from 'otpauth'

// Time-based one-time passwords (RFC 6238) as every authenticator app makes them: HMAC-SHA-1, six
// digits, a 30-second time step. The algorithm is otpauth's; this module fixes its parameters and
// adds the recovery codes that stand in for a code when the device is lost.

const ALGORITHM = 'SHA1'
const DIGITS = 6
/** Seconds per time step (RFC 6238 §5.2 recommends 30). */
const PERIOD = 30
/** Steps of clock skew accepted either side of the current one: RFC 6238 §5.2 recommends at most one. */
const WINDOW = 1
/** RFC 4226 §4: at least 128 bits, 160 recommended. */
const SECRET_BYTES = 20

/** What a TOTP code looks like; any other value of the `totp` parameter is taken for a recovery code. */
export const TOTP_CODE = /^[0-9]{6}$/

/** A new shared secret, in base32 (RFC 4648), as authenticator apps take it. */
export function newTotpSecret (): string {
  return new Secret({ size: SECRET_BYTES }).base32
}

/**
 * The otpauth:// URI (Google Authenticator's Key URI Format) that an authenticator app scans:
 * `issuer` is the name the app shows beside `username`'s codes.
 */
export function totpUri (secret: string, issuer: string, username: string): string {
  return new TOTP({ issuer, label: username, secret: Secret.fromBase32(secret), algorithm: ALGORITHM, digits: DIGITS, period: PERIOD }).toString()
}

/** The RFC 6238 time step (T) at `now`, in epoch milliseconds. */
export function timeStep (now: number): number {
  return TOTP.counter({ period: PERIOD, timestamp: now })
}

/** The time step whose code `code` is, for `secret`, within one step of `now`; null when it is none of them. */
export function matchingStep (secret: string, code: string, now: number): number | null {
  if (!TOTP_CODE.test(code)) return null
  const delta = TOTP.validate({
    token: code, secret: Secret.fromBase32(secret), algorithm: ALGORITHM, digits: DIGITS, period: PERIOD, timestamp: now, window: WINDOW
  })
  return delta === null ? null : timeStep(now) + delta
}

/** How many recovery codes an enrollment gets, each usable once. */
export const RECOVERY_CODE_COUNT = 10
/** Crockford's base32 alphabet in lower case: no i, l, o or u, which are misread for 1, 1, 0 and v. */
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
/** 16 characters of 32: 80 random bits, beyond guessing, so that a plain SHA-256 of one is enough to keep. */
const RECOVERY_CODE_LENGTH = 16
const RECOVERY_CODE = new RegExp(`^[${RECOVERY_ALPHABET}]{${RECOVERY_CODE_LENGTH}}$`)

/** Ten new recovery codes, written in groups of four (`k3p9-x7vq-2mfd-8hwz`) to be copied by hand. */
export function newRecoveryCodes (): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const code = Array.from({ length: RECOVERY_CODE_LENGTH }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('')
    return [0, 4, 8, 12].map(start => code.slice(start, start + 4)).join('-')
  })
}

/**
 * What a recovery code is kept as: the SHA-256 of its characters, without the hyphens and spaces one
 * may type, in lower case. Null when `code` cannot be a recovery code, so that nothing is looked up.
 */
export function hashRecoveryCode (code: string): string | null {
  const normalized = code.replace(/[\s-]/g, '').toLowerCase()
  if (!RECOVERY_CODE.test(normalized)) return null
  return createHash('sha256').update(normalized).digest('base64url')
}
