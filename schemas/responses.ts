import { Type, type TString } from '@sinclair/typebox'

/** A response header, for the OpenAPI document only: Fastify neither checks nor sets it from here. */
export const header = (description: string): TString => Type.String({ description })

/**
 * A route's response for the OpenAPI document: its body's schema, what it means at this status and
 * the headers it carries. Fastify serializes the body with `schema`; the description and headers
 * only document it.
 */
export function documented<T extends object> (schema: T, description: string, headers?: Record<string, TString>): T & { description: string } {
  return { ...schema, description, ...(headers !== undefined && { headers }) }
}
