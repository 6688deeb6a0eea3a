import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance } from 'fastify'
import { StoreUnavailableError } from '../store/errors.js'
import { ServerClosingError } from './draining.js'
import { redactUrl } from '../config/logger.js'

/** What a 5xx body says when the error's own message is not for the client. */
const SERVER_ERROR = 'The server could not handle the request'

/** The 5xx errors whose code and message were written for the client, and only say what happened. */
function isExposed (error: unknown): error is StoreUnavailableError | ServerClosingError {
  return error instanceof StoreUnavailableError || error instanceof ServerClosingError
}

/**
 * The standalone server's error and not-found handlers. Below 500 it leaves the answer to Fastify's (RFC 6750
 * refusals, validation errors). From 500 on, the body never carries the error's own message or code,
 * which may hold a database's address, a SQLSTATE or a file path: only those of the errors written
 * for the client, and for any other a generic one; the log keeps the whole error. The embeddable
 * plugin sets no such handler: a host keeps its own.
 */
async function errors (fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const statusCode = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    // Sent on, the error goes to Fastify's default handler.
    if (statusCode < 500) return reply.send(error)
    const reason = STATUS_CODES[statusCode] ?? 'Server Error'
    // Serialized as it is: a route's own schema for this status (GET /health's 503) describes its own answer, not this one.
    reply.code(statusCode).serializer(JSON.stringify)
    if (isExposed(error)) {
      request.log.warn({ err: error }, 'request refused')
      return reply.headers(error.headers).send({ statusCode, code: error.code, error: reason, message: error.message })
    }
    request.log.error({ err: error }, 'request failed')
    return reply.send({ statusCode, code: 'SERVER_ERROR', error: reason, message: SERVER_ERROR })
  })
  // Fastify's own 404 writes the raw URL into the log, where a client may have put a token; the
  // request line that is logged anyway has it redacted (config/logger.ts).
  fastify.setNotFoundHandler((request, reply) => reply.code(404).send({
    statusCode: 404, code: 'FST_ERR_NOT_FOUND', error: 'Not Found', message: `Route ${request.method}:${redactUrl(request.url)} not found`
  }))
}

export default fp(errors, { name: 'errors', fastify: '5.x' })
