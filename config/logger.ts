import type { FastifyServerOptions, FastifyRequest } from 'fastify'

/**
 * What the logger never prints: credentials in headers and in parsed bodies, wherever a
 * serializer or a log call puts them.
 */
export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'body.password',
  'body.refresh_token',
  'body.client_secret',
  '*.password',
  '*.refresh_token',
  '*.client_secret',
  '*.access_token'
]

/** Query parameters whose values are credentials when a client sends them where it should not. */
const SECRET_PARAMETERS = /([?&](?:access_token|refresh_token|token|password|client_secret)=)[^&#]*/gi

/** The request line as logged: a credential in the query string is replaced, never written. */
export function redactUrl (url: string): string {
  return url.replace(SECRET_PARAMETERS, '$1[redacted]')
}

export function loggerOptions (level: string, stream?: { write (line: string): void }): FastifyServerOptions['logger'] {
  return {
    level,
    stream,
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: redactUrl(request.url),
        host: request.host,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort
      })
    }
  }
}
