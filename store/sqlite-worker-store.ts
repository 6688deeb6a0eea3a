import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { StoreUnavailableError } from './errors.js'
import { requireDriver } from './drivers.js'
import {
  DuplicateClientError,
  DuplicateUsernameError,
  type Client,
  type NewRefreshFamily,
  type CodePurpose,
  type NewRefreshToken,
  type NewUser,
  type OneTimeCode,
  type RefreshFamily,
  type RefreshToken,
  type Revocation,
  type RotationResult,
  type Session,
  type SigningKey,
  type Store,
  type TotpEnrollment,
  type User,
  type UserChanges
} from './types.js'

/** A call to the store in the worker; id 0 is the worker's answer to opening the database. */
export interface Call {
  id: number
  method: keyof Store
  args: unknown[]
}

export interface ThrownError {
  /** `unavailable`: the disk, the file or a lock failed (rebuilt as StoreUnavailableError). */
  kind: 'duplicate-username' | 'duplicate-client' | 'unavailable' | 'error'
  message: string
  /** The username or client id of a duplicate. */
  key?: string
  code?: string | undefined
}

export type Reply = { id: number, value: unknown } | { id: number, error: ThrownError }

function rebuild (error: ThrownError): Error {
  if (error.kind === 'duplicate-username') return new DuplicateUsernameError(error.key ?? '')
  if (error.kind === 'duplicate-client') return new DuplicateClientError(error.key ?? '')
  const rebuilt = Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code })
  return error.kind === 'unavailable' ? new StoreUnavailableError({ cause: rebuilt }) : rebuilt
}

// Always the built JavaScript. The tests load the TypeScript sources (after `npm run build`), and a
// thread that compiled them would take a second to start, where the built one takes milliseconds.
const WORKER = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/store/sqlite-worker.js' : './sqlite-worker.js', import.meta.url))

/**
 * A SqliteStore in a worker thread. better-sqlite3 is synchronous, and with `synchronous = FULL`
 * every commit waits for the disk (fsync): on the calling thread a login's write would stall
 * every other request for as long, several milliseconds while argon2 keeps the memory busy. Here
 * the event loop only posts the call and is free until the answer comes back.
 */
export class SqliteWorkerStore implements Store {
  readonly #worker: Worker
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (error: Error) => void }>()
  #nextId = 1
  /** Set once the worker is gone: every call from then on fails with it. */
  #failure: Error | null = null

  private constructor (worker: Worker) {
    this.#worker = worker
    worker.on('message', (reply: Reply) => this.#settle(reply))
    worker.on('error', error => this.#fail(error))
    worker.on('exit', code => this.#fail(new Error(`the SQLite worker thread exited (${code})`)))
    // The worker keeps the process alive only while a call waits for it, as a socket would.
    worker.unref()
  }

  /** Opens, creating and migrating it if needed, the database at `filename` (or ':memory:') in a new worker thread. */
  static async open (filename: string): Promise<SqliteWorkerStore> {
    requireDriver('better-sqlite3', 'SqliteWorkerStore keeps a SQLite database')
    // No execArgv: the process's flags and loaders (the tests' TypeScript one) are not the thread's business.
    const worker = new Worker(WORKER, { workerData: filename, execArgv: [] })
    const opened = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
      worker.once('exit', code => reject(new Error(`the SQLite worker thread exited (${code}) before opening the database`)))
    })
    if ('error' in opened) {
      await worker.terminate()
      throw rebuild(opened.error)
    }
    return new SqliteWorkerStore(worker)
  }

  #settle (reply: Reply): void {
    const call = this.#pending.get(reply.id)
    if (call === undefined) return
    this.#pending.delete(reply.id)
    if (this.#pending.size === 0) this.#worker.unref()
    if ('error' in reply) call.reject(rebuild(reply.error))
    else call.resolve(reply.value)
  }

  #fail (error: Error): void {
    this.#failure ??= error
    for (const call of this.#pending.values()) call.reject(error)
    this.#pending.clear()
  }

  #call<T> (method: keyof Store, ...args: unknown[]): Promise<T> {
    if (this.#failure !== null) return Promise.reject(this.#failure)
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref()
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.#worker.postMessage({ id, method, args } satisfies Call)
    })
  }

  createUser (user: NewUser): Promise<User> { return this.#call('createUser', user) }
  findUserByUsername (username: string): Promise<User | null> { return this.#call('findUserByUsername', username) }
  findUserById (id: string): Promise<User | null> { return this.#call('findUserById', id) }
  updateUser (id: string, changes: UserChanges): Promise<User | null> { return this.#call('updateUser', id, changes) }
  removeUser (id: string): Promise<boolean> { return this.#call('removeUser', id) }
  listUsers (): Promise<User[]> { return this.#call('listUsers') }
  findUsersByEmail (email: string): Promise<User[]> { return this.#call('findUsersByEmail', email) }
  countUsers (): Promise<number> { return this.#call('countUsers') }
  listSigningKeys (): Promise<SigningKey[]> { return this.#call('listSigningKeys') }
  addFirstSigningKey (key: SigningKey): Promise<SigningKey[]> { return this.#call('addFirstSigningKey', key) }
  addSigningKey (key: SigningKey): Promise<void> { return this.#call('addSigningKey', key) }
  removeSigningKeys (kids: readonly string[]): Promise<void> { return this.#call('removeSigningKeys', kids) }
  updateSigningKey (kid: string, privateKey: string): Promise<boolean> { return this.#call('updateSigningKey', kid, privateKey) }
  createRefreshFamily (family: NewRefreshFamily, first: NewRefreshToken): Promise<void> {
    return this.#call('createRefreshFamily', family, first)
  }

  rotateRefreshToken (hash: string, next: NewRefreshToken, now: number): Promise<RotationResult> {
    return this.#call('rotateRefreshToken', hash, next, now)
  }

  findRefreshToken (hash: string): Promise<{ token: RefreshToken, family: RefreshFamily } | null> { return this.#call('findRefreshToken', hash) }
  revokeRefreshFamily (familyId: string, now: number): Promise<void> { return this.#call('revokeRefreshFamily', familyId, now) }
  listSessions (userId: string, now: number): Promise<Session[]> { return this.#call('listSessions', userId, now) }
  createOneTimeCode (code: Omit<OneTimeCode, 'usedAt'>): Promise<void> { return this.#call('createOneTimeCode', code) }
  findOneTimeCode (hash: string): Promise<OneTimeCode | null> { return this.#call('findOneTimeCode', hash) }
  useOneTimeCode (hash: string, purpose: CodePurpose, now: number, changes: UserChanges): Promise<User | null> {
    return this.#call('useOneTimeCode', hash, purpose, now, changes)
  }

  revokeAccessToken (jti: string, expiresAt: number, now: number): Promise<void> { return this.#call('revokeAccessToken', jti, expiresAt, now) }
  revocationsSince (since: number): Promise<Revocation[]> { return this.#call('revocationsSince', since) }
  prune (now: number): Promise<void> { return this.#call('prune', now) }
  useDPoPProof (id: string, expiresAt: number, now: number): Promise<boolean> { return this.#call('useDPoPProof', id, expiresAt, now) }
  createClient (client: Client): Promise<void> { return this.#call('createClient', client) }
  findClient (id: string): Promise<Client | null> { return this.#call('findClient', id) }
  setClientSecret (id: string, secretHash: string): Promise<boolean> { return this.#call('setClientSecret', id, secretHash) }
  removeClient (id: string): Promise<boolean> { return this.#call('removeClient', id) }
  listClients (): Promise<Client[]> { return this.#call('listClients') }
  findTotpEnrollment (userId: string): Promise<TotpEnrollment | null> { return this.#call('findTotpEnrollment', userId) }
  startTotpEnrollment (userId: string, secret: string, now: number): Promise<boolean> { return this.#call('startTotpEnrollment', userId, secret, now) }
  activateTotpEnrollment (userId: string, secret: string, step: number | null, recoveryCodeHashes: readonly string[]): Promise<boolean> {
    return this.#call('activateTotpEnrollment', userId, secret, step, recoveryCodeHashes)
  }

  acceptTotpStep (userId: string, step: number): Promise<boolean> { return this.#call('acceptTotpStep', userId, step) }
  spendRecoveryCode (userId: string, hash: string): Promise<boolean> { return this.#call('spendRecoveryCode', userId, hash) }
  removeTotpEnrollment (userId: string): Promise<boolean> { return this.#call('removeTotpEnrollment', userId) }
  ping (): Promise<void> { return this.#call('ping') }

  /** Closes the database, then the thread; a second close does nothing. */
  async close (): Promise<void> {
    if (this.#failure !== null) return
    await this.#call('close')
    this.#failure = new Error('the store is closed')
    await this.#worker.terminate()
  }
}
