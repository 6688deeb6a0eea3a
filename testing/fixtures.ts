import type { Client, NewRefreshToken, NewUser, RefreshFamily, RotationTerms, SigningKey } from '../store/types.js'

// The records the store contract suite (testing/store-contract.ts) and the repository's own store
// tests write: fake hashes and keys, since a store keeps them as given and never reads them.

export function newUser (username: string, extra: Partial<NewUser> = {}): NewUser {
  return { username, scopes: ['read'], passwordHash: `$argon2id$v=19$m=65536,t=3,p=4$${username}`, ...extra }
}

export function signingKey (kid: string, createdAt: number): SigningKey {
  return {
    kid,
    alg: 'ES256',
    privateKey: `-----BEGIN PRIVATE KEY-----\n${kid}\n-----END PRIVATE KEY-----\n`,
    publicKey: `-----BEGIN PUBLIC KEY-----\n${kid}\n-----END PUBLIC KEY-----\n`,
    createdAt
  }
}

// A family from 1000 to 10000; the tests' clock is these numbers, never Date.now().
export function newFamily (userId: string, id: string, extra: Partial<Omit<RefreshFamily, 'revokedAt'>> = {}): Omit<RefreshFamily, 'revokedAt'> {
  return { id, userId, clientId: 'web', scopes: ['read'], tokenVersion: 0, createdAt: 1000, expiresAt: 10_000, jkt: null, ...extra }
}

/** The terms a family of newFamily's defaults meets: its client, no DPoP key, no narrower scope. */
export const WEB_TERMS: RotationTerms = { clientId: 'web', jkt: null, scopes: [] }

export function newToken (hash: string, createdAt: number, expiresAt: number): NewRefreshToken {
  return { hash, createdAt, expiresAt }
}

export function newClient (id: string, extra: Partial<Client> = {}): Client {
  return { id, secretHash: `$argon2id$v=19$m=65536,t=3,p=4$${id}`, scopes: ['read'], createdAt: 1000, ...extra }
}
