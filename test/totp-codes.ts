import { createHmac } from 'node:crypto'

// RFC 6238 codes computed here, by hand on node:crypto, independently of the otpauth library the
// server uses: what a user's authenticator app shows. Checked against the RFC's own test vectors in
// test/tokens/totp.test.ts.

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32, padding optional. */
export function base32Decode (text: string): Buffer {
  let bits = ''
  for (const character of text.replace(/=+$/, '')) {
    const value = BASE32.indexOf(character)
    if (value === -1) throw new Error(`not base32: ${character}`)
    bits += value.toString(2).padStart(5, '0')
  }
  const bytes: number[] = []
  for (let start = 0; start + 8 <= bits.length; start += 8) bytes.push(parseInt(bits.slice(start, start + 8), 2))
  return Buffer.from(bytes)
}

/** RFC 4226 §5.3 HOTP with HMAC-SHA-1 of the 8-byte big-endian `counter`, truncated to `digits`. */
export function hotp (key: Buffer, counter: number, digits = 6): string {
  const message = Buffer.alloc(8)
  message.writeBigUInt64BE(BigInt(counter))
  const mac = createHmac('sha1', key).update(message).digest()
  const offset = mac[mac.length - 1]! & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 10 ** digits).padStart(digits, '0')
}

/** The 30-second time step of `time` (epoch milliseconds). */
export function stepAt (time: number): number {
  return Math.floor(time / 30_000)
}

/** The 6-digit code of the base32 `secret` for the time step `step`. */
export function codeAt (secret: string, step: number): string {
  return hotp(base32Decode(secret), step)
}

/** The `secret` parameter of an otpauth:// URI. */
export function secretOf (uri: string): string {
  const secret = new URL(uri).searchParams.get('secret')
  if (secret === null) throw new Error('a URI without a secret')
  return secret
}

/**
 * Resolves once at least `margin` milliseconds are left in the current time step, waiting for the
 * next step if needed (at most `margin`), so that a test's codes of "this step", "the next" and "the
 * one before" keep meaning that while its requests run.
 */
export async function awayFromStepEdge (margin = 10_000): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000)
  if (left < margin) await new Promise(resolve => setTimeout(resolve, left + 50))
}
