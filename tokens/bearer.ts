import createError from '@fastify/error'

// RFC 6750 §3: the failures of a protected route, each with its stable code, status and challenge,
// and RFC 9449 §7.1's for a DPoP proof. The message is the challenge's error_description, so it
// keeps to RFC 6750's allowed characters.

export const MissingTokenError = createError('OAUTH2_TOKEN_MISSING', 'No bearer token in the Authorization header', 401)
export const MalformedRequestError = createError('OAUTH2_INVALID_REQUEST', '%s', 400)
export const InvalidTokenError = createError('OAUTH2_INVALID_TOKEN', '%s', 401)
export const InsufficientScopeError = createError('OAUTH2_INSUFFICIENT_SCOPE', 'The token lacks a scope this route needs', 403)
export const InvalidDPoPProofError = createError('OAUTH2_INVALID_DPOP_PROOF', '%s', 401)

export type BearerError =
  | InstanceType<typeof MissingTokenError>
  | InstanceType<typeof MalformedRequestError>
  | InstanceType<typeof InvalidTokenError>
  | InstanceType<typeof InsufficientScopeError>
  | InstanceType<typeof InvalidDPoPProofError>

/**
 * Builds the `WWW-Authenticate` value for an error, with only the attributes its RFC 6750 row names:
 * a Bearer challenge, or with `dpopAlgs` (the algorithms a proof may use) a DPoP one (RFC 9449 §7.1).
 */
export function challenge (realm: string, error: BearerError, scopes: readonly string[] = [], dpopAlgs?: string): string {
  const attributes = [dpopAlgs === undefined ? `realm="${realm}"` : `algs="${dpopAlgs}"`]
  if (error.code === 'OAUTH2_INVALID_DPOP_PROOF') {
    attributes.push('error="invalid_dpop_proof"', `error_description="${error.message}"`)
  } else if (error.code === 'OAUTH2_INVALID_REQUEST') {
    attributes.push('error="invalid_request"', `error_description="${error.message}"`)
  } else if (error.code === 'OAUTH2_INVALID_TOKEN') {
    attributes.push('error="invalid_token"', `error_description="${error.message}"`)
  } else if (error.code === 'OAUTH2_INSUFFICIENT_SCOPE') {
    attributes.push('error="insufficient_scope"', `scope="${scopes.join(' ')}"`)
  }
  return `${dpopAlgs === undefined ? 'Bearer' : 'DPoP'} ${attributes.join(', ')}`
}

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * The request's one Authorization header value. `rawHeaders` is Node's flat name/value list: Node
 * keeps only the first of two Authorization headers, so two are found there.
 */
export function authorizationHeader (rawHeaders: readonly string[]): string {
  let value: string | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() !== 'authorization') continue
    if (value !== undefined) throw new MalformedRequestError('More than one Authorization header')
    value = rawHeaders[i + 1] ?? ''
  }
  if (value === undefined) throw new MissingTokenError()
  return value
}

/** Whether an Authorization header value is of the DPoP scheme (RFC 9449 §7.1) rather than Bearer; case-insensitive, as every scheme. */
export function isDPoPScheme (authorization: string): boolean {
  return /^\s*dpop( |$)/i.test(authorization)
}

/**
 * Reads the access token from an Authorization header value of the Bearer scheme (RFC 6750 §2.1), or
 * of the DPoP scheme, whose token has the same syntax (RFC 9449 §7.1).
 */
export function bearerToken (authorization: string, expected: 'bearer' | 'dpop' = 'bearer'): string {
  const [scheme = '', ...credentials] = authorization.trim().split(/ +/)
  // Authentication schemes are case-insensitive (RFC 9110 §11.1); another scheme is no bearer token.
  if (scheme.toLowerCase() !== expected) throw new MissingTokenError()
  if (credentials.length !== 1) throw new MalformedRequestError(`The ${expected === 'bearer' ? 'Bearer' : 'DPoP'} scheme takes exactly one token`)
  const token = credentials[0] ?? ''
  if (!B64TOKEN.test(token)) throw new MalformedRequestError(`The ${expected === 'bearer' ? 'bearer' : 'DPoP'} token has characters RFC 6750 does not allow`)
  return token
}
