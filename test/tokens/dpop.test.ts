import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import t from 'tap'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import { DPOP_ALGORITHMS, DPoPProofError, ProofVerifier, accessTokenHash, normalizeHtu, type ProofRequest } from '../../tokens/dpop.js'

// RFC 9449 §4.3, check by check, on proofs made with jose: each refusal is a DPoPProofError whose
// message says which check failed and repeats nothing of the proof.

const URL = 'https://api.example.com/users/me'
const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
const NOW = 1_750_000_000_000
const IAT = Math.floor(NOW / 1000)
/** A symmetric key, which a proof's header must never carry (typed apart: jose's header type refuses it). */
const SYMMETRIC_JWK = { kty: 'oct', k: 'c2VjcmV0' }

interface Signer { privateKey: CryptoKey, jwk: JWK }

async function signer (alg: string, options: { modulusLength?: number } = {}): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options })
  return { privateKey, jwk: await exportJWK(publicKey) }
}

/** A proof for GET URL at NOW, with `claims` and `header` overriding (undefined removes a member). */
async function proof (key: Signer, alg: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload = Object.fromEntries(Object.entries({ jti: 'jti-1', htm: 'GET', htu: URL, iat: IAT, ath: accessTokenHash(ACCESS_TOKEN), ...claims })
    .filter(([, value]) => value !== undefined))
  const protectedHeader = Object.fromEntries(Object.entries({ alg, typ: 'dpop+jwt', jwk: key.jwk, ...header })
    .filter(([, value]) => value !== undefined))
  return await new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(key.privateKey)
}

const publicKeyEncoding = { type: 'spki', format: 'pem' } as const
const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const

function pemPair ({ privateKey, publicKey }: { privateKey: string, publicKey: string }): { privateKey: KeyObject, publicKey: KeyObject } {
  return { privateKey: createPrivateKey(privateKey), publicKey: createPublicKey(publicKey) }
}

// One verifier for every test, as a server has: its cache of keys must never mix two of them up.
const verifier = new ProofVerifier()

const request = (extra: Partial<ProofRequest> = {}): ProofRequest => ({ method: 'GET', url: URL, accessToken: ACCESS_TOKEN, now: NOW, ...extra })

/** The SHA-256 JWK thumbprint computed by hand (RFC 7638 §3): the required members, in order, no spaces. */
function thumbprint (jwk: JWK): string {
  const members = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : jwk.kty === 'OKP'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
      : { e: jwk.e, kty: jwk.kty, n: jwk.n }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

async function refusal (promise: Promise<unknown>): Promise<DPoPProofError> {
  return await promise.then(
    () => { throw new Error('the proof was accepted') },
    (error: unknown) => {
      if (!(error instanceof DPoPProofError)) throw error
      return error
    })
}

t.test('accepts a proof of each algorithm, and returns the thumbprint of its key, its jti and iat', async t => {
  for (const alg of DPOP_ALGORITHMS) {
    const key = await signer(alg === 'EdDSA' ? 'Ed25519' : alg)
    const verified = await verifier.verify(await proof(key, alg), request())
    t.strictSame(verified, { jkt: thumbprint(key.jwk), jti: 'jti-1', iat: IAT }, alg)
  }
})

t.test('compares htu as RFC 9449 §4.3 says: scheme and host in any case, default port, no query or fragment', async t => {
  const key = await signer('ES256')
  for (const htu of ['HTTPS://API.Example.COM/users/me', 'https://api.example.com:443/users/me', 'https://api.example.com/users/me?x=1#f', 'https://api.example.com/users/./me']) {
    await t.resolves(verifier.verify(await proof(key, 'ES256', { htu }), request({ url: 'https://api.example.com/users/me?page=2' })), htu)
  }
  t.equal(normalizeHtu('HTTP://Example.com:80/a/../b?q#f'), 'http://example.com/b')
  t.equal(normalizeHtu('https://example.com:8443/'), 'https://example.com:8443/')
  for (const bad of ['/users/me', 'ftp://example.com/', 'not a url', '']) t.equal(normalizeHtu(bad), null, bad)
})

t.test('takes an iat up to a minute either side of the clock, and ath only where an access token is expected', async t => {
  const key = await signer('ES256')
  await t.resolves(verifier.verify(await proof(key, 'ES256', { iat: IAT - 60 }), request()))
  await t.resolves(verifier.verify(await proof(key, 'ES256', { iat: IAT + 60 }), request()))
  await t.resolves(verifier.verify(await proof(key, 'ES256', { ath: undefined, htm: 'POST' }), request({ method: 'POST', accessToken: undefined })),
    'a token request has no ath')
  t.equal(accessTokenHash('abc'), createHash('sha256').update('abc').digest('base64url'))
})

t.test('refuses each failed check with its own description', async t => {
  const es256 = await signer('ES256')
  const other = await signer('ES256')
  const rsa = await signer('RS256')
  // Made from PEM: on Node 20 a JWK export of a KeyObject straight from generateKeyPairSync can
  // deadlock (see bench/dpop.ts).
  const ec = pemPair(generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding, privateKeyEncoding }))
  const privateJwk = ec.privateKey.export({ format: 'jwk' })
  const shortRsa = pemPair(generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding, privateKeyEncoding }))
  const unsigned = (header: object, payload: object): string =>
    `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`
  // jose will not sign with a key that short, so node:crypto does (RS256 is PKCS#1 v1.5 over SHA-256).
  const shortRsaSigned = (): string => {
    const input = unsigned({ alg: 'RS256', typ: 'dpop+jwt', jwk: shortRsa.publicKey.export({ format: 'jwk' }) }, { jti: 'j', htm: 'GET', htu: URL, iat: IAT, ath: accessTokenHash(ACCESS_TOKEN) }).slice(0, -1)
    return `${input}.${sign('sha256', Buffer.from(input), shortRsa.privateKey).toString('base64url')}`
  }
  // A header jose will not sign (it refuses crit members it does not know), signed by node:crypto.
  const withCrit = (): string => {
    const input = unsigned({ alg: 'ES256', typ: 'dpop+jwt', crit: ['exp'], jwk: ec.publicKey.export({ format: 'jwk' }) }, { jti: 'j', htm: 'GET', htu: URL, iat: IAT, ath: accessTokenHash(ACCESS_TOKEN) }).slice(0, -1)
    return `${input}.${sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
  }
  const good = await proof(es256, 'ES256')
  const [head = '', , signature = ''] = good.split('.')
  const tamperedBody = Buffer.from(JSON.stringify({ jti: 'jti-2', htm: 'GET', htu: URL, iat: IAT, ath: accessTokenHash(ACCESS_TOKEN) })).toString('base64url')

  const cases: Array<{ name: string, proof: () => Promise<string> | string, request?: Partial<ProofRequest>, message: string }> = [
    { name: 'not a JWT', proof: () => 'abc', message: 'The DPoP proof is not a signed JWT' },
    { name: 'longer than any proof', proof: () => `${good}${'A'.repeat(8192)}`, message: 'The DPoP proof is too long' },
    { name: 'typ missing', proof: async () => await proof(es256, 'ES256', {}, { typ: undefined }), message: 'The DPoP proof\'s typ is not dpop+jwt' },
    { name: 'typ of an access token', proof: async () => await proof(es256, 'ES256', {}, { typ: 'at+jwt' }), message: 'The DPoP proof\'s typ is not dpop+jwt' },
    { name: 'alg none', proof: () => unsigned({ alg: 'none', typ: 'dpop+jwt', jwk: es256.jwk }, { jti: 'j', htm: 'GET', htu: URL, iat: IAT }), message: 'The DPoP proof is signed with an algorithm this server does not accept' },
    {
      name: 'alg HS256 with a symmetric jwk',
      proof: async () => await new SignJWT({ jti: 'j', htm: 'GET', htu: URL, iat: IAT })
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: SYMMETRIC_JWK }).sign(new TextEncoder().encode('secret')),
      message: 'The DPoP proof is signed with an algorithm this server does not accept'
    },
    { name: 'alg ES512, not on the list', proof: async () => await proof(await signer('ES512'), 'ES512'), message: 'The DPoP proof is signed with an algorithm this server does not accept' },
    { name: 'a crit header', proof: withCrit, message: 'The DPoP proof has a crit header this server does not understand' },
    { name: 'no jwk', proof: async () => await proof(es256, 'ES256', {}, { jwk: undefined }), message: 'The DPoP proof carries no jwk' },
    { name: 'a jwk that is a private key', proof: async () => await proof({ privateKey: ec.privateKey as unknown as CryptoKey, jwk: privateJwk as JWK }, 'ES256'), message: 'The DPoP proof\'s jwk is not a public key' },
    { name: 'an EC jwk for RS256', proof: async () => await proof({ privateKey: rsa.privateKey, jwk: es256.jwk }, 'RS256'), message: 'The DPoP proof\'s jwk is not a public key of its algorithm' },
    { name: 'an RSA key of 1024 bits', proof: shortRsaSigned, message: 'The DPoP proof is not a valid signed JWT' },
    { name: 'signed by another key than its jwk', proof: async () => await proof({ privateKey: other.privateKey, jwk: es256.jwk }, 'ES256'), message: 'The DPoP proof\'s signature does not verify' },
    { name: 'claims changed after signing', proof: () => `${head}.${tamperedBody}.${signature}`, message: 'The DPoP proof\'s signature does not verify' },
    { name: 'jti missing', proof: async () => await proof(es256, 'ES256', { jti: undefined }), message: 'The DPoP proof lacks a claim or has one of the wrong type' },
    { name: 'htm missing', proof: async () => await proof(es256, 'ES256', { htm: undefined }), message: 'The DPoP proof lacks a claim or has one of the wrong type' },
    { name: 'htu missing', proof: async () => await proof(es256, 'ES256', { htu: undefined }), message: 'The DPoP proof lacks a claim or has one of the wrong type' },
    { name: 'iat missing', proof: async () => await proof(es256, 'ES256', { iat: undefined }), message: 'The DPoP proof lacks a claim or has one of the wrong type' },
    { name: 'iat a string', proof: async () => await proof(es256, 'ES256', { iat: String(IAT) }), message: 'The DPoP proof lacks a claim or has one of the wrong type' },
    { name: 'jti empty', proof: async () => await proof(es256, 'ES256', { jti: '' }), message: 'The DPoP proof\'s jti is not an identifier' },
    { name: 'jti a number', proof: async () => await proof(es256, 'ES256', { jti: 42 }), message: 'The DPoP proof\'s jti is not an identifier' },
    { name: 'jti of 257 characters', proof: async () => await proof(es256, 'ES256', { jti: 'j'.repeat(257) }), message: 'The DPoP proof\'s jti is not an identifier' },
    { name: 'htm of another method', proof: async () => await proof(es256, 'ES256', { htm: 'POST' }), message: 'The DPoP proof is for another HTTP method' },
    { name: 'htm in lower case', proof: async () => await proof(es256, 'ES256', { htm: 'get' }), message: 'The DPoP proof is for another HTTP method' },
    { name: 'htu of another path', proof: async () => await proof(es256, 'ES256', { htu: 'https://api.example.com/users/me/items' }), message: 'The DPoP proof is for another URL' },
    { name: 'htu of another host', proof: async () => await proof(es256, 'ES256', { htu: 'https://evil.example.com/users/me' }), message: 'The DPoP proof is for another URL' },
    { name: 'htu of another scheme', proof: async () => await proof(es256, 'ES256', { htu: 'http://api.example.com/users/me' }), message: 'The DPoP proof is for another URL' },
    { name: 'htu of another port', proof: async () => await proof(es256, 'ES256', { htu: 'https://api.example.com:8443/users/me' }), message: 'The DPoP proof is for another URL' },
    { name: 'htu a relative path', proof: async () => await proof(es256, 'ES256', { htu: '/users/me' }), message: 'The DPoP proof is for another URL' },
    { name: 'htu a number', proof: async () => await proof(es256, 'ES256', { htu: 7 }), message: 'The DPoP proof is for another URL' },
    { name: 'iat 61 seconds old', proof: async () => await proof(es256, 'ES256', { iat: IAT - 61 }), message: 'The DPoP proof was not made within the last minute' },
    { name: 'iat 61 seconds ahead', proof: async () => await proof(es256, 'ES256', { iat: IAT + 61 }), message: 'The DPoP proof was not made within the last minute' },
    { name: 'exp passed', proof: async () => await proof(es256, 'ES256', { exp: IAT - 1 }), message: 'The DPoP proof expired' },
    { name: 'ath missing', proof: async () => await proof(es256, 'ES256', { ath: undefined }), message: 'The DPoP proof\'s ath does not match the access token' },
    { name: 'ath of another token', proof: async () => await proof(es256, 'ES256', { ath: accessTokenHash(`${ACCESS_TOKEN}x`) }), message: 'The DPoP proof\'s ath does not match the access token' },
    { name: 'a request URL that is no URL', proof: async () => await proof(es256, 'ES256'), request: { url: 'https://exa mple.com/users/me' }, message: 'The DPoP proof is for another URL' }
  ]
  for (const { name, proof: make, request: extra, message } of cases) {
    const made = await make()
    const error = await refusal(verifier.verify(made, request(extra)))
    t.equal(error.message, message, name)
    // What a client reads in the challenge: RFC 6750's error_description characters, nothing of the proof.
    t.match(error.message, /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/, `${name}: describable`)
    for (const part of made.split('.')) if (part.length > 8) t.notOk(error.message.includes(part), `${name}: no part of the proof`)
  }
})
