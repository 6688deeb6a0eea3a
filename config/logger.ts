import type { FastifyServerOptions } from 'fastify'

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

export function loggerOptions (level: string): FastifyServerOptions['logger'] {
  return { level, redact: { paths: REDACT, censor: '[redacted]' } }
}
