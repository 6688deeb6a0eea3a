import type { Revocation, Store } from '../store/types.js'

/**
 * How far back each poll reads before the previous one started: revocations carry the clock of the
 * instance that recorded them and become visible when their transaction commits, so a poll reads
 * what was recorded up to this long before it, and applies it again harmlessly.
 */
export const REVOCATION_OVERLAP = 2000

export interface RevocationListOptions {
  /** Seconds an access token lives: a family revoked longer ago has no live tokens left. */
  accessTokenTtl: number
  /** Called for each change of a user seen in the store, so that what is remembered of them is read again. */
  onUserChange: (userId: string) => void
  /** Called when the store may have dropped changes this instance never saw: every user must be read again. */
  onUsersUnknown: () => void
}

/**
 * What this instance knows of revoked access tokens and refresh families, kept in memory and
 * brought up to date by polling the store, so that `authenticate` reads nothing from the store
 * to refuse a revoked token. A revocation made here is known here at once; one made elsewhere
 * within a poll interval plus the time the store takes to answer.
 */
export class RevocationList {
  /** Revoked jti → when the token expires (epoch ms). */
  readonly #accessTokens = new Map<string, number>()
  /** Revoked family id → when the last access token it can have issued expires. */
  readonly #families = new Map<string, number>()
  /** The user changes applied already, by user id and time, so that a poll's overlap does not apply them twice. */
  readonly #userChanges = new Map<string, number>()
  #polledFrom = 0
  #lastSuccess = 0

  constructor (private readonly store: Store, private readonly options: RevocationListOptions) {}

  /** Whether a token with these claims is revoked: by its own jti, or by the family it was issued in. */
  isRevoked (claims: { jti: string, sid?: string | undefined }): boolean {
    return this.#accessTokens.has(claims.jti) || (claims.sid !== undefined && this.#families.has(claims.sid))
  }

  /** Revokes an access token expiring at `expiresAt` (epoch ms): in the store, for every instance at its next poll, and here at once. */
  async revokeAccessToken (jti: string, expiresAt: number, now = Date.now()): Promise<void> {
    await this.store.revokeAccessToken(jti, expiresAt, now)
    this.#recordAccessToken(jti, expiresAt)
  }

  /** Ends a login: its refresh tokens in the store, and its access tokens here at once and on every instance at its next poll. */
  async revokeFamily (familyId: string, now = Date.now()): Promise<void> {
    await this.store.revokeRefreshFamily(familyId, now)
    this.#recordFamily(familyId, now)
  }

  #recordAccessToken (jti: string, expiresAt: number): void {
    this.#accessTokens.set(jti, Math.max(expiresAt, this.#accessTokens.get(jti) ?? 0))
  }

  #recordFamily (familyId: string, at: number): void {
    this.#families.set(familyId, at + this.#lifetime())
  }

  /** Reads every revocation that can still matter: a token revoked longer ago than its lifetime has expired. */
  async load (now = Date.now()): Promise<void> {
    await this.#read(now - this.#lifetime(), now)
  }

  /** Reads what was recorded since the previous poll, and forgets what has expired. */
  async poll (now = Date.now()): Promise<void> {
    // After a gap longer than the store keeps changes of users for, some may have been dropped unseen.
    if (now - this.#lastSuccess > this.#lifetime()) this.options.onUsersUnknown()
    await this.#read(this.#polledFrom - REVOCATION_OVERLAP, now)
    this.#forget(now)
  }

  async #read (since: number, now: number): Promise<void> {
    const revocations = await this.store.revocationsSince(since)
    for (const revocation of revocations) this.#apply(revocation)
    this.#polledFrom = now
    this.#lastSuccess = now
  }

  #apply (revocation: Revocation): void {
    switch (revocation.kind) {
      case 'access_token':
        this.#recordAccessToken(revocation.id, revocation.expiresAt ?? revocation.at + this.#lifetime())
        break
      case 'refresh_family':
        this.#recordFamily(revocation.id, revocation.at)
        break
      case 'user':
        if (this.#userChanges.get(revocation.id) === revocation.at) break
        this.#userChanges.set(revocation.id, revocation.at)
        this.options.onUserChange(revocation.id)
        break
    }
  }

  #forget (now: number): void {
    for (const [jti, expiresAt] of this.#accessTokens) if (expiresAt <= now) this.#accessTokens.delete(jti)
    for (const [id, until] of this.#families) if (until <= now) this.#families.delete(id)
    // A change of a user is read again only within the overlap of the next poll.
    for (const [id, at] of this.#userChanges) if (at < now - 2 * REVOCATION_OVERLAP) this.#userChanges.delete(id)
  }

  /** How long a revocation can matter: an access token's lifetime, plus the overlap for clocks that differ. */
  #lifetime (): number {
    return this.options.accessTokenTtl * 1000 + REVOCATION_OVERLAP
  }
}
