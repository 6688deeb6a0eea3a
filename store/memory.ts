import { randomUUID } from 'node:crypto'
import { DuplicateClientError, DuplicateUsernameError } from './types.js'
import { rotationDecision } from './rotation.js'
import type {
  Client,
  NewRefreshFamily,
  CodePurpose,
  NewRefreshToken,
  NewUser,
  OneTimeCode,
  RefreshFamily,
  RefreshToken,
  Revocation,
  RotationResult,
  RotationTerms,
  Session,
  SigningKey,
  Store,
  TotpEnrollment,
  User,
  UserChanges
} from './types.js'

/**
 * Keeps everything in process memory: for tests and throw-away runs, never for production. Written
 * by hand rather than as an in-memory SQLite database so that a host's tests need no native driver;
 * the contract suite (testing/store-contract.ts) holds it to the same behaviour as the SQL stores.
 */
export class MemoryStore implements Store {
  readonly #users = new Map<string, User>()
  // Login looks users up by username, every authenticated request by id.
  readonly #idsByUsername = new Map<string, string>()
  // In insertion order, which breaks ties between keys created in the same millisecond.
  readonly #signingKeys: SigningKey[] = []
  readonly #refreshFamilies = new Map<string, RefreshFamily>()
  readonly #refreshTokens = new Map<string, RefreshToken>()
  // Family id → when it was last refreshed (or made): only the sessions list shows it.
  readonly #lastUsed = new Map<string, number>()
  // Access-token jti → when it was revoked, and the time after which its revocation can be forgotten.
  readonly #revokedAccessTokens = new Map<string, { revokedAt: number, expiresAt: number }>()
  // User id → when it last changed or was removed.
  readonly #userChanges = new Map<string, number>()
  readonly #clients = new Map<string, Client>()
  // DPoP proof id → until when it is remembered.
  readonly #dpopProofs = new Map<string, number>()
  // User id → the enrollment, and the hashes of its recovery codes.
  readonly #totp = new Map<string, { enrollment: TotpEnrollment, recoveryCodes: Set<string> }>()
  readonly #codes = new Map<string, OneTimeCode>()
  #closed = false

  async createUser (user: NewUser): Promise<User> {
    this.#assertOpen()
    if (this.#idsByUsername.has(user.username)) throw new DuplicateUsernameError(user.username)
    const created: User = {
      id: randomUUID(),
      username: user.username,
      email: user.email ?? null,
      emailVerified: false,
      fullName: user.fullName ?? null,
      scopes: [...user.scopes],
      disabled: false,
      passwordHash: user.passwordHash,
      tokenVersion: 0,
      createdAt: Date.now()
    }
    this.#users.set(created.id, created)
    this.#idsByUsername.set(created.username, created.id)
    return copyUser(created)
  }

  async findUserByUsername (username: string): Promise<User | null> {
    this.#assertOpen()
    const id = this.#idsByUsername.get(username)
    return id === undefined ? null : await this.findUserById(id)
  }

  async findUserById (id: string): Promise<User | null> {
    this.#assertOpen()
    const user = this.#users.get(id)
    return user === undefined ? null : copyUser(user)
  }

  async updateUser (id: string, changes: UserChanges): Promise<User | null> {
    this.#assertOpen()
    return this.#updateUser(id, changes)
  }

  // Synchronous, so that useOneTimeCode applies it in the same turn as its checks.
  #updateUser (id: string, changes: UserChanges): User | null {
    const user = this.#users.get(id)
    if (user === undefined) return null
    if (changes.email !== undefined && changes.email !== user.email) user.emailVerified = false
    if (changes.email !== undefined) user.email = changes.email
    if (changes.emailVerified !== undefined) user.emailVerified = changes.emailVerified
    if (changes.fullName !== undefined) user.fullName = changes.fullName
    if (changes.scopes !== undefined) user.scopes = [...changes.scopes]
    if (changes.disabled !== undefined) user.disabled = changes.disabled
    if (changes.passwordHash !== undefined) user.passwordHash = changes.passwordHash
    if (changes.revokeTokens === true) {
      user.tokenVersion++
      const kept = changes.keepRefreshFamily === undefined ? undefined : this.#refreshFamilies.get(changes.keepRefreshFamily)
      if (kept !== undefined && kept.userId === id && kept.revokedAt === null) kept.tokenVersion = user.tokenVersion
    }
    this.#userChanges.set(id, Date.now())
    return copyUser(user)
  }

  async removeUser (id: string): Promise<boolean> {
    this.#assertOpen()
    const user = this.#users.get(id)
    if (user === undefined) return false
    this.#users.delete(id)
    this.#idsByUsername.delete(user.username)
    // As SQLite's ON DELETE CASCADE removes them with the user.
    this.#deleteRefreshFamilies(family => family.userId === id)
    this.#totp.delete(id)
    for (const [hash, code] of this.#codes) if (code.userId === id) this.#codes.delete(hash)
    this.#userChanges.set(id, Date.now())
    return true
  }

  async listUsers (): Promise<User[]> {
    this.#assertOpen()
    return [...this.#users.values()]
      .sort((a, b) => compareCodePoints(a.username, b.username))
      .map(copyUser)
  }

  async findUsersByEmail (email: string): Promise<User[]> {
    this.#assertOpen()
    const wanted = asciiLower(email)
    return [...this.#users.values()]
      .filter(user => user.email !== null && asciiLower(user.email) === wanted)
      .sort((a, b) => compareCodePoints(a.username, b.username))
      .map(copyUser)
  }

  async countUsers (): Promise<number> {
    this.#assertOpen()
    return this.#users.size
  }

  async listSigningKeys (): Promise<SigningKey[]> {
    this.#assertOpen()
    return this.#signingKeys
      .map((key, index) => ({ key, index }))
      .sort((a, b) => b.key.createdAt - a.key.createdAt || b.index - a.index)
      .map(({ key }) => ({ ...key }))
  }

  async addFirstSigningKey (key: SigningKey): Promise<SigningKey[]> {
    this.#assertOpen()
    if (this.#signingKeys.length === 0) this.#signingKeys.push({ ...key })
    return await this.listSigningKeys()
  }

  async addSigningKey (key: SigningKey): Promise<void> {
    this.#assertOpen()
    // The kid is SQLite's primary key; two keys with one kid would make verification ambiguous.
    if (this.#signingKeys.some(stored => stored.kid === key.kid)) throw new Error(`signing key "${key.kid}" exists already`)
    this.#signingKeys.push({ ...key })
  }

  async removeSigningKeys (kids: readonly string[]): Promise<void> {
    this.#assertOpen()
    const removed = new Set(kids)
    for (let index = this.#signingKeys.length - 1; index >= 0; index--) {
      if (removed.has(this.#signingKeys[index]!.kid)) this.#signingKeys.splice(index, 1)
    }
  }

  async updateSigningKey (kid: string, privateKey: string): Promise<boolean> {
    this.#assertOpen()
    const key = this.#signingKeys.find(stored => stored.kid === kid)
    if (key === undefined) return false
    key.privateKey = privateKey
    return true
  }

  async createRefreshFamily (family: NewRefreshFamily, first: NewRefreshToken): Promise<void> {
    this.#assertOpen()
    // The checks SQLite's foreign and primary keys make, so that a caller's mistake fails here too.
    if (!this.#users.has(family.userId)) throw new Error(`no user "${family.userId}" to start a refresh family for`)
    if (this.#refreshFamilies.has(family.id)) throw new Error(`refresh family "${family.id}" exists already`)
    if (this.#refreshTokens.has(first.hash)) throw new Error('the refresh token exists already')
    const created: RefreshFamily = { ...family, scopes: [...family.scopes], revokedAt: null, jkt: family.jkt ?? null }
    this.#refreshFamilies.set(created.id, created)
    this.#lastUsed.set(created.id, created.createdAt)
    this.#refreshTokens.set(first.hash, newRefreshToken(first, created))
  }

  async rotateRefreshToken (hash: string, next: NewRefreshToken, now: number, terms: RotationTerms): Promise<RotationResult> {
    this.#assertOpen()
    // Nothing below awaits, so no other call runs between the checks and the writes: that is the atomicity.
    const token = this.#refreshTokens.get(hash)
    if (token === undefined) return { outcome: 'invalid' }
    const family = this.#refreshFamilies.get(token.familyId)!
    const user = this.#users.get(family.userId)
    const decision = rotationDecision(token, copyRefreshFamily(family), user === undefined ? null : copyUser(user), terms, now)
    if (decision.outcome !== 'rotate') return decision
    if (this.#refreshTokens.has(next.hash)) throw new Error('the refresh token exists already')
    token.spentAt = now
    this.#lastUsed.set(family.id, now)
    this.#refreshTokens.set(next.hash, newRefreshToken(next, family))
    return { outcome: 'rotated', family: copyRefreshFamily(family), user: decision.user }
  }

  async findRefreshToken (hash: string): Promise<{ token: RefreshToken, family: RefreshFamily } | null> {
    this.#assertOpen()
    const token = this.#refreshTokens.get(hash)
    if (token === undefined) return null
    return { token: { ...token }, family: copyRefreshFamily(this.#refreshFamilies.get(token.familyId)!) }
  }

  async revokeRefreshFamily (familyId: string, now: number): Promise<void> {
    this.#assertOpen()
    const family = this.#refreshFamilies.get(familyId)
    if (family !== undefined) family.revokedAt ??= now
  }

  async listSessions (userId: string, now: number): Promise<Session[]> {
    this.#assertOpen()
    const user = this.#users.get(userId)
    if (user === undefined) return []
    const refreshable = new Set<string>()
    for (const token of this.#refreshTokens.values()) {
      if (token.spentAt === null && token.expiresAt > now) refreshable.add(token.familyId)
    }
    return [...this.#refreshFamilies.values()]
      .filter(family => family.userId === userId && family.revokedAt === null && family.expiresAt > now &&
        family.tokenVersion === user.tokenVersion && refreshable.has(family.id))
      .map(family => ({ ...copyRefreshFamily(family), lastUsedAt: this.#lastUsed.get(family.id) ?? family.createdAt }))
      // As the SQL stores order them: the most recent use first, then by id.
      .sort((a, b) => b.lastUsedAt - a.lastUsedAt || compareCodePoints(a.id, b.id))
  }

  async createOneTimeCode (code: Omit<OneTimeCode, 'usedAt'>): Promise<void> {
    this.#assertOpen()
    // The checks SQLite's keys make.
    if (!this.#users.has(code.userId)) throw new Error(`no user "${code.userId}" to make a code for`)
    if (this.#codes.has(code.hash)) throw new Error('the code exists already')
    this.#codes.set(code.hash, { ...code, usedAt: null })
  }

  async findOneTimeCode (hash: string): Promise<OneTimeCode | null> {
    this.#assertOpen()
    const code = this.#codes.get(hash)
    return code === undefined ? null : { ...code }
  }

  async useOneTimeCode (hash: string, purpose: CodePurpose, now: number, changes: UserChanges): Promise<User | null> {
    this.#assertOpen()
    // Nothing below awaits: the checks and the writes happen in one turn, which is the atomicity.
    const code = this.#codes.get(hash)
    const user = code === undefined ? undefined : this.#users.get(code.userId)
    if (code === undefined || user === undefined || code.purpose !== purpose || code.usedAt !== null ||
      code.expiresAt <= now || user.email !== code.email) return null
    for (const other of this.#codes.values()) {
      if (other.userId === code.userId && other.purpose === purpose && other.usedAt === null) other.usedAt = now
    }
    return this.#updateUser(code.userId, changes)
  }

  async revokeAccessToken (jti: string, expiresAt: number, now: number): Promise<void> {
    this.#assertOpen()
    // A second revocation can only lengthen the first, and keeps its time.
    const first = this.#revokedAccessTokens.get(jti)
    this.#revokedAccessTokens.set(jti, { revokedAt: first?.revokedAt ?? now, expiresAt: Math.max(expiresAt, first?.expiresAt ?? expiresAt) })
  }

  async revocationsSince (since: number): Promise<Revocation[]> {
    this.#assertOpen()
    const revocations: Revocation[] = []
    for (const [id, { revokedAt, expiresAt }] of this.#revokedAccessTokens) {
      if (revokedAt >= since) revocations.push({ kind: 'access_token', id, at: revokedAt, expiresAt })
    }
    for (const family of this.#refreshFamilies.values()) {
      if (family.revokedAt !== null && family.revokedAt >= since) revocations.push({ kind: 'refresh_family', id: family.id, at: family.revokedAt, expiresAt: null })
    }
    for (const [id, at] of this.#userChanges) {
      if (at >= since) revocations.push({ kind: 'user', id, at, expiresAt: null })
    }
    return revocations
  }

  async prune (now: number): Promise<void> {
    this.#assertOpen()
    for (const [jti, { expiresAt }] of this.#revokedAccessTokens) {
      if (expiresAt <= now) this.#revokedAccessTokens.delete(jti)
    }
    for (const [id, at] of this.#userChanges) {
      if (at <= now) this.#userChanges.delete(id)
    }
    for (const [hash, token] of this.#refreshTokens) {
      if (token.expiresAt <= now) this.#refreshTokens.delete(hash)
    }
    for (const [hash, code] of this.#codes) {
      if (code.expiresAt <= now) this.#codes.delete(hash)
    }
    this.#deleteRefreshFamilies(family => family.expiresAt <= now)
    for (const [id, expiresAt] of this.#dpopProofs) {
      if (expiresAt <= now) this.#dpopProofs.delete(id)
    }
  }

  async useDPoPProof (id: string, expiresAt: number, now: number): Promise<boolean> {
    this.#assertOpen()
    const recorded = this.#dpopProofs.get(id)
    if (recorded !== undefined && recorded > now) return false
    this.#dpopProofs.set(id, expiresAt)
    return true
  }

  async createClient (client: Client): Promise<void> {
    this.#assertOpen()
    if (this.#clients.has(client.id)) throw new DuplicateClientError(client.id)
    this.#clients.set(client.id, copyClient(client))
  }

  async findClient (id: string): Promise<Client | null> {
    this.#assertOpen()
    const client = this.#clients.get(id)
    return client === undefined ? null : copyClient(client)
  }

  async setClientSecret (id: string, secretHash: string): Promise<boolean> {
    this.#assertOpen()
    const client = this.#clients.get(id)
    if (client === undefined) return false
    client.secretHash = secretHash
    return true
  }

  async removeClient (id: string): Promise<boolean> {
    this.#assertOpen()
    if (!this.#clients.delete(id)) return false
    const now = Date.now()
    for (const family of this.#refreshFamilies.values()) {
      if (family.clientId === id) family.revokedAt ??= now
    }
    return true
  }

  async listClients (): Promise<Client[]> {
    this.#assertOpen()
    return [...this.#clients.values()]
      .sort((a, b) => compareCodePoints(a.id, b.id))
      .map(copyClient)
  }

  async findTotpEnrollment (userId: string): Promise<TotpEnrollment | null> {
    this.#assertOpen()
    const entry = this.#totp.get(userId)
    return entry === undefined ? null : { ...entry.enrollment }
  }

  async startTotpEnrollment (userId: string, secret: string, now: number): Promise<boolean> {
    this.#assertOpen()
    if (!this.#users.has(userId) || this.#totp.get(userId)?.enrollment.state === 'active') return false
    this.#totp.set(userId, { enrollment: { userId, secret, state: 'pending', lastStep: null, createdAt: now }, recoveryCodes: new Set() })
    return true
  }

  async activateTotpEnrollment (userId: string, secret: string, step: number | null, recoveryCodeHashes: readonly string[]): Promise<boolean> {
    this.#assertOpen()
    const entry = this.#totp.get(userId)
    if (entry === undefined || entry.enrollment.state !== 'pending' || entry.enrollment.secret !== secret) return false
    entry.enrollment.state = 'active'
    entry.enrollment.lastStep = step
    entry.recoveryCodes = new Set(recoveryCodeHashes)
    return true
  }

  async acceptTotpStep (userId: string, step: number): Promise<boolean> {
    this.#assertOpen()
    const enrollment = this.#totp.get(userId)?.enrollment
    if (enrollment === undefined || enrollment.state !== 'active' || (enrollment.lastStep !== null && enrollment.lastStep >= step)) return false
    enrollment.lastStep = step
    return true
  }

  async spendRecoveryCode (userId: string, hash: string): Promise<boolean> {
    this.#assertOpen()
    return this.#totp.get(userId)?.recoveryCodes.delete(hash) ?? false
  }

  async removeTotpEnrollment (userId: string): Promise<boolean> {
    this.#assertOpen()
    return this.#totp.delete(userId)
  }

  async ping (): Promise<void> {
    this.#assertOpen()
  }

  async close (): Promise<void> {
    this.#closed = true
  }

  // A closed store fails like a closed database would, so code tested against memory behaves as in production.
  #assertOpen (): void {
    if (this.#closed) throw new Error('the store is closed')
  }

  #deleteRefreshFamilies (matches: (family: RefreshFamily) => boolean): void {
    const deleted = new Set<string>()
    for (const [id, family] of this.#refreshFamilies) {
      if (matches(family)) {
        this.#refreshFamilies.delete(id)
        this.#lastUsed.delete(id)
        deleted.add(id)
      }
    }
    if (deleted.size === 0) return
    for (const [hash, token] of this.#refreshTokens) {
      if (deleted.has(token.familyId)) this.#refreshTokens.delete(hash)
    }
  }
}

/** Lower case for ASCII letters only, as SQLite's lower() and PostgreSQL's under COLLATE "C" do. */
function asciiLower (text: string): string {
  return text.replace(/[A-Z]/g, letter => letter.toLowerCase())
}

function copyUser (user: User): User {
  return { ...user, scopes: [...user.scopes] }
}

function copyRefreshFamily (family: RefreshFamily): RefreshFamily {
  return { ...family, scopes: [...family.scopes] }
}

function copyClient (client: Client): Client {
  return { ...client, scopes: [...client.scopes] }
}

function newRefreshToken (token: NewRefreshToken, family: RefreshFamily): RefreshToken {
  return {
    hash: token.hash,
    familyId: family.id,
    createdAt: token.createdAt,
    expiresAt: Math.min(token.expiresAt, family.expiresAt),
    spentAt: null
  }
}

/**
 * Orders by Unicode code point, as SQLite's BINARY collation orders UTF-8, where `<` on strings
 * compares UTF-16 code units and would put "😀" before "\uFFFD".
 */
function compareCodePoints (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
