import type { Client, Store } from '../store/types.js'
import type { PasswordHasher } from '../passwords/hasher.js'
import type { LoginLimiter } from '../limits/login.js'
import { hashClientSecret, isArgon2ClientSecret, verifyClientSecret } from './secrets.js'
import { invalidClient, invalidRequest, tooManyAttempts } from '../oauth/errors.js'

/** The built-in public client that a request naming no client logs in through (docs/contract.md §3). */
export const FIRST_PARTY = 'first-party'

export interface ClientCredentials {
  clientId: string
  secret: string | null
  /** How the client presented itself; `basic` failures answer with a Basic challenge. */
  method: 'basic' | 'body' | 'none'
}

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before they are joined and base64-encoded. */
function formDecode (value: string): string {
  return decodeURIComponent(value.replaceAll('+', ' '))
}

/** RFC 7617 credentials: base64 only; padding only at the end. Linear: the class excludes '='. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function basicCredentials (authorization: string | undefined): { clientId: string, secret: string } | null {
  if (authorization === undefined) return null
  // Split as bearerToken splits (tokens/bearer.ts), in one pass: a pattern that lets spaces match in
  // two places around an optional group backtracks quadratically on a header of spaces.
  const [scheme = '', ...credentials] = authorization.trim().split(/ +/)
  if (scheme.toLowerCase() !== 'basic') return null
  const [encoded] = credentials
  if (credentials.length !== 1 || encoded === undefined || !BASE64.test(encoded)) {
    throw invalidClient('The Basic credentials are malformed', true)
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) throw invalidClient('The Basic credentials are malformed', true)
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    throw invalidClient('The Basic credentials are malformed', true)
  }
}

/**
 * Who the client says it is, from HTTP Basic or from the body, never both. A Basic header with an
 * empty client id (Swagger UI's default `Basic Og==`) names no client.
 */
export function clientCredentials (
  authorization: string | undefined,
  body: { client_id?: string, client_secret?: string }
): ClientCredentials {
  const basic = basicCredentials(authorization)
  const named = basic !== null && basic.clientId !== ''
  // RFC 6749 §3.1: a parameter without a value counts as omitted.
  const clientId = body.client_id === '' ? undefined : body.client_id
  const clientSecret = body.client_secret === '' ? undefined : body.client_secret
  if (named && (clientId !== undefined || clientSecret !== undefined)) {
    throw invalidRequest('Client credentials were sent both in the Authorization header and in the body')
  }
  if (named) return { clientId: basic.clientId, secret: basic.secret, method: 'basic' }
  if (clientId !== undefined) return { clientId, secret: clientSecret ?? null, method: 'body' }
  if (clientSecret !== undefined) throw invalidRequest('client_secret was sent without client_id')
  return { clientId: FIRST_PARTY, secret: null, method: 'none' }
}

/** One description for every failed client authentication: it tells no one which clients exist or are public. */
export const CLIENT_AUTHENTICATION_FAILED = 'Client authentication failed'

/**
 * The client these credentials authenticate, or `invalid_client`. `first-party` is public and
 * may have every scope; a registered confidential client must present its secret, a registered
 * public client none. Every authentication of another client than `first-party` counts against
 * the address like a password attempt, taken back when it succeeds.
 */
export async function authenticateClient (
  credentials: ClientCredentials,
  context: { store: Store, hasher: PasswordHasher, limiter: LoginLimiter, scopes: Record<string, string> },
  address: string
): Promise<Client> {
  const usedBasic = credentials.method === 'basic'
  const secret = credentials.secret === '' ? null : credentials.secret
  if (credentials.clientId === FIRST_PARTY && secret === null) {
    return { id: FIRST_PARTY, secretHash: null, scopes: Object.keys(context.scopes), createdAt: 0 }
  }
  const retryAfter = await context.limiter.clientAttempt(address)
  if (retryAfter !== null) throw tooManyAttempts(retryAfter)
  const client = credentials.clientId === FIRST_PARTY ? null : await context.store.findClient(credentials.clientId)
  const authenticated = client !== null && (client.secretHash === null
    ? secret === null
    : secret !== null && await verifyClientSecret(client.secretHash, secret, context.hasher))
  if (!authenticated) throw invalidClient(CLIENT_AUTHENTICATION_FAILED, usedBasic)
  await context.limiter.clientSucceeded(address)
  if (client.secretHash !== null && secret !== null && isArgon2ClientSecret(client.secretHash)) {
    // Hashed by an earlier version: from now on a digest, so that this client costs no hashing again.
    await context.store.setClientSecret(client.id, hashClientSecret(secret))
  }
  return client
}
