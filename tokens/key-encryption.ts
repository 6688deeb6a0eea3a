import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import type { SigningKey } from '../store/types.js'

// Private signing keys encrypted at rest with a secret every instance sharing the store is given,
// so that whoever reads the database (a backup, a file left world-readable) cannot sign tokens.
// Users' TOTP secrets are sealed the same way, with an HKDF info of their own and the user id as
// the additional authenticated data, so that neither kind of value opens in the other's place.
//
// A stored private key is either the PKCS#8 PEM itself or, encrypted, one line:
//
//   $aes-256-gcm$v=1$<salt>$<nonce>$<ciphertext>$<tag>      (each part base64url)
//
// Version 1: the key is HKDF-SHA-256 (RFC 5869) of the secret's UTF-8 bytes with a random 16-byte
// salt of its own and the info below; AES-256-GCM with a random 12-byte nonce encrypts the PEM, the
// kid being the additional authenticated data, so that an encrypted key moved to another row does
// not decrypt; the tag is 16 bytes. A PEM never starts with '$', so each form tells itself apart.

/** The shortest secret accepted: HKDF stretches nothing, so the secret itself must be hard to guess. */
export const SIGNING_KEY_SECRET_MIN_LENGTH = 32

const PREFIX = '$aes-256-gcm$v=1$'
const ENCRYPTED = /^\$aes-256-gcm\$v=1\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{16})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]{22})$/
const SIGNING_KEY_INFO = 'oauth2-password signing key'
const TOTP_SECRET_INFO = 'oauth2-password totp secret'
const SALT_BYTES = 16
const NONCE_BYTES = 12
const TAG_BYTES = 16

/** The store holds a private key this instance cannot use as it is; the message names the key and the setting, never key material. */
export class KeyEncryptionError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KeyEncryptionError'
  }
}

/** Whether a stored private key is encrypted (in any version), rather than a PEM. */
export function isEncrypted (key: Pick<SigningKey, 'privateKey'>): boolean {
  return key.privateKey.startsWith('$')
}

const SETTING = 'SIGNING_KEY_SECRET (the plugin\'s signingKeySecret option)'

/** Why a stored value could not be opened. */
type OpenFailure = 'encoding' | 'no secret' | 'mismatch'

/** Turns signing keys and TOTP secrets into what the store keeps, and back: encrypted when there is a secret, as they are otherwise. */
export class KeyEncryption {
  readonly #secret: Buffer | null

  /** `secret` undefined: values are stored in clear, and an encrypted one cannot be read. */
  constructor (secret: string | undefined) {
    if (secret !== undefined && secret.length < SIGNING_KEY_SECRET_MIN_LENGTH) {
      throw new RangeError(`the signing key secret must be at least ${SIGNING_KEY_SECRET_MIN_LENGTH} characters`)
    }
    this.#secret = secret === undefined ? null : Buffer.from(secret, 'utf8')
  }

  get enabled (): boolean {
    return this.#secret !== null
  }

  /** `key` as the store is to keep it: its private key encrypted when there is a secret. */
  seal (key: SigningKey): SigningKey {
    if (this.#secret === null) return key
    return { ...key, privateKey: this.#seal(key.privateKey, SIGNING_KEY_INFO, key.kid) }
  }

  /**
   * `key` as read from the store, ready to sign: decrypted if it is encrypted. Throws a
   * KeyEncryptionError when it is encrypted and there is no secret, the wrong one, or it was altered.
   */
  open (key: SigningKey): SigningKey {
    if (!isEncrypted(key)) return key
    const opened = this.#open(key.privateKey, SIGNING_KEY_INFO, key.kid)
    if (typeof opened === 'string') return { ...key, privateKey: opened }
    if (opened.failure === 'encoding') throw new KeyEncryptionError(`signing key ${key.kid} is stored in an encoding this version cannot read`)
    if (opened.failure === 'no secret') {
      throw new KeyEncryptionError(`signing key ${key.kid} is encrypted in the store, and ${SETTING} is not set: every instance sharing the store needs the secret the keys were encrypted with`)
    }
    // GCM tells only that the tag does not match: a different secret, or an altered row.
    throw new KeyEncryptionError(`signing key ${key.kid} does not decrypt with this ${SETTING}: it is not the secret the key was encrypted with, or the stored key was altered`)
  }

  /** The TOTP secret of the user `userId` as the store is to keep it: encrypted, and bound to the user, when there is a secret. */
  sealTotpSecret (userId: string, secret: string): string {
    return this.#seal(secret, TOTP_SECRET_INFO, userId)
  }

  /** The TOTP secret of the user `userId` as `sealTotpSecret` left it, opened; throws a KeyEncryptionError as `open` does. */
  openTotpSecret (userId: string, stored: string): string {
    const opened = this.#open(stored, TOTP_SECRET_INFO, userId)
    if (typeof opened === 'string') return opened
    const what = `the TOTP secret of user ${userId}`
    if (opened.failure === 'encoding') throw new KeyEncryptionError(`${what} is stored in an encoding this version cannot read`)
    if (opened.failure === 'no secret') throw new KeyEncryptionError(`${what} is encrypted in the store, and ${SETTING} is not set`)
    throw new KeyEncryptionError(`${what} does not decrypt with this ${SETTING}: it is not the secret it was encrypted with, or it was altered or moved from another user`)
  }

  /** `text` encrypted when there is a secret, under a key of `info`'s, `boundTo` being the additional authenticated data. */
  #seal (text: string, info: string, boundTo: string): string {
    if (this.#secret === null) return text
    const salt = randomBytes(SALT_BYTES)
    const nonce = randomBytes(NONCE_BYTES)
    const cipher = createCipheriv('aes-256-gcm', derive(this.#secret, salt, info), nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(Buffer.from(boundTo, 'utf8'))
    const ciphertext = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()])
    const parts = [salt, nonce, ciphertext, cipher.getAuthTag()].map(part => part.toString('base64url'))
    return `${PREFIX}${parts.join('$')}`
  }

  /** What `#seal` was given, from what it returned; `stored` as it is when it was never encrypted. */
  #open (stored: string, info: string, boundTo: string): string | { failure: OpenFailure } {
    if (!stored.startsWith('$')) return stored
    const parts = ENCRYPTED.exec(stored)
    if (parts === null) return { failure: 'encoding' }
    if (this.#secret === null) return { failure: 'no secret' }
    const [salt, nonce, ciphertext, tag] = parts.slice(1).map(part => Buffer.from(part, 'base64url')) as [Buffer, Buffer, Buffer, Buffer]
    const decipher = createDecipheriv('aes-256-gcm', derive(this.#secret, salt, info), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(boundTo, 'utf8'))
    decipher.setAuthTag(tag)
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8')
    } catch {
      return { failure: 'mismatch' }
    }
  }
}

/** The AES-256 key for one stored value, from the secret, that value's salt, and the info of its kind. */
function derive (secret: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, 32))
}
