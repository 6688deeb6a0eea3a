import type { FastifyReply, FastifyRequest } from 'fastify'

// What the three form endpoints (token, revoke, introspect) share.

/** RFC 6749 §5.1: nothing a token endpoint answers may be cached, errors included (the onRequest hook of each form endpoint). */
export async function noStore (_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
}

/** The largest form any endpoint takes: every parameter at its schema's maximum, percent-encoded, fits. */
export const FORM_BODY_LIMIT = 64 * 1024
