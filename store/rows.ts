import type { Client, RefreshFamily, RefreshToken, Session, SigningAlgorithm, SigningKey, TotpEnrollment, User } from './types.js'

// The columns of the SQL stores, as the PostgreSQL driver returns them, and how they become the
// store's objects. store/sqlite.ts turns its JSON text and 0/1 columns into these first.

export interface UserRow {
  id: string
  username: string
  email: string | null
  email_verified: boolean
  full_name: string | null
  scopes: string[]
  disabled: boolean
  password_hash: string
  token_version: number
  created_at: number
}

export interface SigningKeyRow {
  kid: string
  alg: SigningAlgorithm
  private_key: string
  public_key: string
  created_at: number
}

export interface RefreshFamilyRow {
  id: string
  user_id: string
  client_id: string
  scopes: string[]
  token_version: number
  created_at: number
  expires_at: number
  revoked_at: number | null
  jkt: string | null
  last_used_at: number
}

// A token joined with its family, whose columns keep their names.
export interface RefreshTokenWithFamilyRow extends RefreshFamilyRow {
  hash: string
  token_created_at: number
  token_expires_at: number
  spent_at: number | null
}

export interface ClientRow {
  id: string
  secret_hash: string | null
  scopes: string[]
  created_at: number
}

export interface TotpEnrollmentRow {
  user_id: string
  secret: string
  state: 'pending' | 'active'
  last_step: number | null
  created_at: number
}

export function rowToUser (row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    emailVerified: row.email_verified,
    fullName: row.full_name,
    scopes: row.scopes,
    disabled: row.disabled,
    passwordHash: row.password_hash,
    tokenVersion: row.token_version,
    createdAt: row.created_at
  }
}

export function rowToSigningKey (row: SigningKeyRow): SigningKey {
  return {
    kid: row.kid,
    alg: row.alg,
    privateKey: row.private_key,
    publicKey: row.public_key,
    createdAt: row.created_at
  }
}

export function rowToRefreshFamily (row: RefreshFamilyRow): RefreshFamily {
  return {
    id: row.id,
    userId: row.user_id,
    clientId: row.client_id,
    scopes: row.scopes,
    tokenVersion: row.token_version,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    jkt: row.jkt
  }
}

export function rowToSession (row: RefreshFamilyRow): Session {
  return { ...rowToRefreshFamily(row), lastUsedAt: row.last_used_at }
}

export function rowToRefreshToken (row: Pick<RefreshTokenWithFamilyRow, 'hash' | 'id' | 'token_created_at' | 'token_expires_at' | 'spent_at'>): RefreshToken {
  return {
    hash: row.hash,
    familyId: row.id,
    createdAt: row.token_created_at,
    expiresAt: row.token_expires_at,
    spentAt: row.spent_at
  }
}

export function rowToClient (row: ClientRow): Client {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    scopes: row.scopes,
    createdAt: row.created_at
  }
}

export function rowToTotpEnrollment (row: TotpEnrollmentRow): TotpEnrollment {
  return {
    userId: row.user_id,
    secret: row.secret,
    state: row.state,
    lastStep: row.last_step,
    createdAt: row.created_at
  }
}
