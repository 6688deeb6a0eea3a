import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto'
import { generateSigningKey } from '../tokens/keys.js'

/** A client's DPoP key (RFC 9449): its private half, and its public half as the proofs carry it. */
export interface DpopKey {
  privateKey: KeyObject
  jwk: JsonWebKey
}

/**
 * A new ES256 key, made from PEM and its JWK exported once. On Node 20, exporting a JWK of a key
 * that `generateKeyPairSync` returned as a KeyObject can deadlock the thread: the export holds the
 * key's mutex while it allocates, and a garbage collection then frees the generating job, whose
 * destructor takes the same mutex. A benchmark that exported the JWK for every proof stalled.
 */
export function dpopKey (): DpopKey {
  const { privateKey, publicKey } = generateSigningKey('ES256')
  return { privateKey: createPrivateKey(privateKey), jwk: createPublicKey(publicKey).export({ format: 'jwk' }) }
}

/** A DPoP proof signed with node:crypto, synchronously, so that thousands are made before a run. */
export function dpopProof (key: DpopKey, method: string, url: string, accessToken?: string): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const header = { alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk }
  const claims = {
    jti: randomUUID(),
    htm: method,
    htu: url,
    iat: Math.floor(Date.now() / 1000),
    ...(accessToken === undefined ? {} : { ath: createHash('sha256').update(accessToken).digest('base64url') })
  }
  const input = `${encode(header)}.${encode(claims)}`
  return `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}
