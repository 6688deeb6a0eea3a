import type { Store, TotpEnrollment, User } from '../store/types.js'
import type { KeyEncryption } from '../tokens/key-encryption.js'
import { TOTP_CODE, hashRecoveryCode, matchingStep, newRecoveryCodes, newTotpSecret, totpUri } from '../tokens/totp.js'

// A user's second factor: a TOTP secret (RFC 6238) shared with an authenticator app, and recovery
// codes for when the app is lost. What the users API, the CLI, the /totp endpoints and the password
// grant do with it, on any store. The secret is shown once, when it is made, and kept sealed by
// KeyEncryption (encrypted when the server has a SIGNING_KEY_SECRET); recovery codes are shown once
// and kept as digests. A code, or a recovery code, is accepted once, whichever instance is asked.

/** What an authenticator app is given: the secret, to type in, and the otpauth:// URI, to scan. */
export interface TotpSecret {
  secret: string
  uri: string
}

/** An active enrollment as it is made: its secret, shown this once, and its ten recovery codes. */
export interface TotpActivation extends TotpSecret {
  recoveryCodes: string[]
}

export type ConfirmOutcome =
  | { outcome: 'confirmed', recoveryCodes: string[] }
  /** No pending enrollment, or it was replaced or confirmed meanwhile. */
  | { outcome: 'not_pending' }
  | { outcome: 'wrong_code' }

/** A login's second factor: the user has none, or `code` passed it, was missing, or was wrong (a replayed code included). */
export type LoginCheck = 'none' | 'accepted' | 'missing' | 'wrong'

/** The name authenticator apps show beside the codes: the issuer URL's host, as `auth.example.com`. */
function issuerName (issuer: string): string {
  try {
    return new URL(issuer).hostname
  } catch {
    return issuer
  }
}

type Who = Pick<User, 'id' | 'username'>

export class SecondFactor {
  readonly #store: Store
  readonly #encryption: KeyEncryption
  readonly #issuer: string

  /** `issuer`: the plugin's issuer URL, whose host names the service in authenticator apps. */
  constructor (store: Store, encryption: KeyEncryption, issuer: string) {
    this.#store = store
    this.#encryption = encryption
    this.#issuer = issuerName(issuer)
  }

  /**
   * Starts an enrollment that a first code confirms (`confirm`): its secret, to show the user once. It
   * replaces a pending one; null when the user has an active one, which must be removed first.
   */
  async start (user: Who, now: number): Promise<TotpSecret | null> {
    const started = await this.#start(user, now)
    return started === null ? null : { secret: started.secret, uri: started.uri }
  }

  /**
   * Activates the pending enrollment when `code` is a code of its secret, within a step of `now`; that
   * code's step counts as used. Returns the ten recovery codes, shown this once.
   */
  async confirm (userId: string, code: string, now: number): Promise<ConfirmOutcome> {
    const enrollment = await this.#store.findTotpEnrollment(userId)
    if (enrollment === null || enrollment.state !== 'pending') return { outcome: 'not_pending' }
    const step = matchingStep(this.#encryption.openTotpSecret(userId, enrollment.secret), code, now)
    if (step === null) return { outcome: 'wrong_code' }
    const recoveryCodes = newRecoveryCodes()
    if (!await this.#store.activateTotpEnrollment(userId, enrollment.secret, step, recoveryCodes.map(digest))) return { outcome: 'not_pending' }
    return { outcome: 'confirmed', recoveryCodes }
  }

  /**
   * An operator's enrollment, active at once, with no code to confirm it (`user totp enroll`): its
   * secret and recovery codes, shown this once. Null when the user has an active one already.
   */
  async enroll (user: Who, now: number): Promise<TotpActivation | null> {
    const started = await this.#start(user, now)
    if (started === null) return null
    const recoveryCodes = newRecoveryCodes()
    // Another enrollment that replaced this one meanwhile wins: this one is not shown as made.
    if (!await this.#store.activateTotpEnrollment(user.id, started.stored, null, recoveryCodes.map(digest))) return null
    return { secret: started.secret, uri: started.uri, recoveryCodes }
  }

  /** A password login's second factor, checked once the password was right: `code` is the `totp` parameter. */
  async check (userId: string, code: string | undefined, now: number): Promise<LoginCheck> {
    const enrollment = await this.#store.findTotpEnrollment(userId)
    if (enrollment === null || enrollment.state !== 'active') return 'none'
    if (code === undefined || code === '') return 'missing'
    return await this.#verify(enrollment, code, now) ? 'accepted' : 'wrong'
  }

  /** Removes the user's active enrollment when `code` passes it, as at login. */
  async remove (userId: string, code: string, now: number): Promise<'removed' | 'not_enrolled' | 'wrong_code'> {
    const enrollment = await this.#store.findTotpEnrollment(userId)
    if (enrollment === null || enrollment.state !== 'active') return 'not_enrolled'
    if (!await this.#verify(enrollment, code, now)) return 'wrong_code'
    await this.#store.removeTotpEnrollment(userId)
    return 'removed'
  }

  /** Removes the user's enrollment, pending or active, without a code (an operator's `user totp disable`); false when there was none. */
  async disable (userId: string): Promise<boolean> {
    return await this.#store.removeTotpEnrollment(userId)
  }

  /** A new pending enrollment: its secret, as shown and as stored, and its URI; null when the user has an active one. */
  async #start (user: Who, now: number): Promise<TotpSecret & { stored: string } | null> {
    const secret = newTotpSecret()
    const stored = this.#encryption.sealTotpSecret(user.id, secret)
    if (!await this.#store.startTotpEnrollment(user.id, stored, now)) return null
    return { secret, stored, uri: totpUri(secret, this.#issuer, user.username) }
  }

  /**
   * Whether `code` passes the active `enrollment`, spending it: a TOTP code's step becomes the last
   * accepted one, so that neither it nor an earlier step is accepted again; a recovery code is deleted.
   */
  async #verify (enrollment: TotpEnrollment, code: string, now: number): Promise<boolean> {
    if (TOTP_CODE.test(code)) {
      const step = matchingStep(this.#encryption.openTotpSecret(enrollment.userId, enrollment.secret), code, now)
      return step !== null && await this.#store.acceptTotpStep(enrollment.userId, step)
    }
    const hash = hashRecoveryCode(code)
    return hash !== null && await this.#store.spendRecoveryCode(enrollment.userId, hash)
  }
}

/** The digest of a code newRecoveryCodes made, which always has one. */
function digest (code: string): string {
  const hash = hashRecoveryCode(code)
  if (hash === null) throw new Error('a generated recovery code has the wrong form')
  return hash
}
