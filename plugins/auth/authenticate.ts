import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { User } from '../../store/types.js'
import type { AccessTokenClaims, AccessTokenVerifier } from '../../tokens/access.js'
import {
  InsufficientScopeError, InvalidTokenError, authorizationHeader, bearerToken, challenge, isDPoPScheme, type BearerError
} from '../../tokens/bearer.js'
import { DPOP_ALGORITHMS } from '../../tokens/dpop.js'
import type { RevocationList } from '../../tokens/revocations.js'
import type { UserCache } from '../../tokens/user-cache.js'
import { VerifiedTokens, type VerifiedToken } from '../../tokens/verified-tokens.js'
import { BearerErrorResponse, BearerErrorResponses, SECURITY_SCHEME } from '../../schemas/bearer.js'
import type { DPoPProofs } from './dpop.js'

/**
 * How long a verified token's claims are reused without verifying it again: never past its `exp`,
 * and briefly enough that a removed signing key stops it soon. Found by the token, never by the
 * header around it, so that spellings of one header cannot fill it.
 */
const VERIFIED_CACHE_TTL = 5000
/** The `algs` of a DPoP challenge (RFC 9449 §7.1). */
const DPOP_ALGS = DPOP_ALGORITHMS.join(' ')

function isBearerError (error: unknown): error is BearerError {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('OAUTH2_')
}

export interface AuthenticateServices {
  /** The realm of the challenges (RFC 6750 §3). */
  realm: string
  /** Whether bearer tokens are refused, and only DPoP-bound ones taken. */
  dpopRequired: boolean
  verifier: AccessTokenVerifier
  /** What this instance knows of revoked tokens, ended logins and changed users. */
  revocations: RevocationList
  users: UserCache
  dpopProofs: DPoPProofs
}

/**
 * Decorates `fastify` with `authenticate`, the preHandler that refuses a request unless it carries
 * a live access token with every scope in the route's `config.scopes` (RFC 6750, RFC 9449), and
 * binds it on each route that lists it, with the route's scopes and its OpenAPI security requirement.
 */
export function addAuthenticate (fastify: FastifyInstance, services: AuthenticateServices): void {
  const { realm, dpopRequired, verifier, revocations, users, dpopProofs } = services
  const verified = new VerifiedTokens(VERIFIED_CACHE_TTL)

  /** The refusal `error`, with its challenge when it is one of authenticate's own. */
  function challenged (reply: FastifyReply, error: unknown, required: readonly string[], dpopChallenge: boolean): unknown {
    if (isBearerError(error)) {
      reply.header('www-authenticate', challenge(realm, error, required, dpopChallenge ? DPOP_ALGS : undefined))
    }
    return error
  }

  /**
   * The work of `authenticate`, for a route that needs the scopes `required`: done at once, and
   * undefined, when the token and its user are known here, as they are for every request after a
   * token's first; otherwise a promise of it, which waits for the store or checks a DPoP proof.
   */
  function authenticateFor (request: FastifyRequest, reply: FastifyReply, required: readonly string[]): Promise<void> | undefined {
    // What a bearer token unlocks, and every refusal of one, is for this request only (RFC 6750 §5.3 advice).
    reply.header('cache-control', 'no-store')
    // Refusals are challenged with the DPoP scheme once the request or its token is DPoP's, or when
    // bearer tokens are refused anyway; with the Bearer scheme otherwise, as before DPoP.
    let dpopChallenge = dpopRequired
    try {
      const now = Date.now()
      const authorization = authorizationHeader(request.raw.rawHeaders)
      // A verified token has only token characters: in the usual spelling, one seen before needs no parsing.
      let token = authorization.startsWith('Bearer ') ? authorization.slice(7) : ''
      let entry = verified.get(token, now)
      const dpop = entry === undefined && isDPoPScheme(authorization)
      if (dpop) dpopChallenge = true
      if (entry === undefined) {
        token = bearerToken(authorization, dpop ? 'dpop' : 'bearer')
        entry = verified.get(token, now)
      }
      if (entry === undefined) {
        entry = verified.set(token, verifier.verify(token, now), now)
      }
      const { claims } = entry
      // A bound token's refusals are DPoP's whatever the scheme it came with, revoked or not.
      if (claims.cnf !== undefined) dpopChallenge = true
      if (revocations.isRevoked(claims)) throw new InvalidTokenError('The access token was revoked')
      const known = users.known(claims.sub)
      if (known !== undefined) {
        checkUser(known, claims)
        checkScheme(claims, dpop)
        if (claims.cnf === undefined) {
          admit(request, known, entry, required)
          return undefined
        }
      }
      const seen = entry
      return (async () => {
        let user = known
        if (user === undefined) {
          const read = await users.get(claims.sub)
          checkUser(read, claims)
          checkScheme(claims, dpop)
          user = read
        }
        if (claims.cnf !== undefined) await dpopProofs.checkProtectedRequest(request, token, claims.cnf.jkt)
        admit(request, user, seen, required)
      })().catch((error: unknown) => { throw challenged(reply, error, required, dpopChallenge) })
    } catch (error) {
      throw challenged(reply, error, required, dpopChallenge)
    }
  }

  /** Refuses a token whose user is gone, disabled, or changed password since. */
  function checkUser (user: User | null, claims: AccessTokenClaims): asserts user is User {
    if (user === null) throw new InvalidTokenError('The user no longer exists')
    if (user.disabled) throw new InvalidTokenError('The user is disabled')
    if (user.tokenVersion !== claims.ver) throw new InvalidTokenError('The token predates a change of password')
  }

  /**
   * RFC 9449 §7.1, §7.2: a bound token only with the DPoP scheme (and, after this, a proof of its
   * key); the DPoP scheme only with a bound token. A bearer token passes a comparison or two here.
   */
  function checkScheme (claims: AccessTokenClaims, dpop: boolean): void {
    if (claims.cnf === undefined) {
      if (dpop) throw new InvalidTokenError('The access token is not bound to a DPoP key')
      if (dpopRequired) throw new InvalidTokenError('This server takes DPoP-bound access tokens only')
    } else if (!dpop) {
      throw new InvalidTokenError('The access token is bound to a DPoP key: send it with the DPoP scheme and a proof')
    }
  }

  /** Lets the request through as `user` if the token has every scope `required`. */
  function admit (request: FastifyRequest, user: User, { claims, scopes }: VerifiedToken, required: readonly string[]): void {
    for (const scope of required) {
      if (!scopes.includes(scope)) throw new InsufficientScopeError()
    }
    request.user = {
      id: user.id,
      username: user.username,
      email: user.email,
      fullName: user.fullName,
      scopes: [...scopes],
      clientId: claims.client_id,
      tokenId: claims.jti,
      sessionId: claims.sid ?? null,
      expiresAt: claims.exp
    }
  }

  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    await authenticateFor(request, reply, request.routeOptions.config.scopes ?? [])
  })

  // A route protected by `authenticate` documents its own security requirement, from its own
  // config, and the refusals `authenticate` answers with (unless the route documents its own), so
  // the OpenAPI document and the code cannot disagree.
  fastify.addSchema(BearerErrorResponse)
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const preHandlers = [route.preHandler ?? []].flat()
    if (!preHandlers.includes(fastify.authenticate)) return
    // The route's scopes are known now: bound here, they are not looked up on every request.
    const required = route.config?.scopes ?? []
    // A hook with a callback: a request whose token and user are known here costs no promise.
    const authenticateRoute = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void => {
      let pending: Promise<void> | undefined
      try {
        pending = authenticateFor(request, reply, required)
      } catch (error) {
        done(error as Error)
        return
      }
      if (pending === undefined) done()
      else pending.then(() => done(), done)
    }
    route.preHandler = preHandlers.map(handler => handler === fastify.authenticate ? authenticateRoute : handler)
    route.schema = {
      ...route.schema,
      security: [{ [SECURITY_SCHEME]: required }],
      response: { ...BearerErrorResponses, ...route.schema?.response as object | undefined }
    }
  })
}
