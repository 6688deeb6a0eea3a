import type { SwaggerTransform } from '@fastify/swagger'
import { SECURITY_SCHEME, securityScheme } from '../../schemas/bearer.js'

/**
 * The token route's `swaggerTransform`: while @fastify/swagger builds the document, it adds the
 * security scheme that protected routes name, with the URL this route was given, so the token URL
 * includes every prefix the host put the plugin under without the host repeating it. Swagger 2.0
 * documents get the same as a security definition. The route's own schema and URL stay as they are.
 */
export function addSecurityScheme (scopes: Record<string, string>): SwaggerTransform {
  return ({ schema, url, ...document }) => {
    if ('openapiObject' in document) {
      const openapi = document.openapiObject
      // New objects rather than writes into the old ones, which are the host's own options.
      openapi.components = {
        ...openapi.components,
        securitySchemes: { ...openapi.components?.securitySchemes, [SECURITY_SCHEME]: securityScheme(scopes, url) }
      }
    } else {
      const swagger = document.swaggerObject
      swagger.securityDefinitions = {
        ...swagger.securityDefinitions,
        [SECURITY_SCHEME]: { type: 'oauth2', flow: 'password', tokenUrl: url, scopes }
      }
    }
    return { schema, url }
  }
}
