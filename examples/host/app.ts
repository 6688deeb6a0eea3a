import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import oauth2Password, { type OAuth2PasswordOptions } from 'fastify-oauth2-password'

export interface AppOptions {
  /** Where users, keys and tokens live: a store URL (`sqlite:…`, `postgres://…`, `memory:`) or a Store. */
  store: OAuth2PasswordOptions['store']
  issuer: string
  /** Cheap argon2 parameters make tests fast; production keeps the default. */
  argon2?: OAuth2PasswordOptions['argon2']
  logger?: boolean
}

const SCOPES = {
  'orders:read': 'Read your orders',
  'orders:write': 'Place orders'
}

interface Order {
  id: number
  item: string
  owner: string
}

/** A shop: a public catalogue, and orders behind the auth plugin's bearer tokens. */
export async function build (options: AppOptions): Promise<FastifyInstance> {
  const fastify = Fastify({ logger: options.logger ?? false })
  // Before the auth plugin and the routes, so that the OpenAPI document sees every route.
  await fastify.register(swagger, { openapi: { info: { title: 'Shop', version: '1.0.0' } } })
  // Under /auth: POST /auth/token, /auth/revoke, … The OpenAPI security scheme names /auth/token by itself.
  await fastify.register(oauth2Password, { store: options.store, issuer: options.issuer, argon2: options.argon2, scopes: SCOPES, prefix: '/auth' })

  const orders: Order[] = []

  fastify.get('/catalogue', async () => [{ item: 'teapot', price: 42 }])

  fastify.get('/orders', { preHandler: fastify.authenticate, config: { scopes: ['orders:read'] } }, async (request) => {
    return orders.filter(order => order.owner === request.user.id)
  })

  fastify.post<{ Body: { item: string } }>('/orders', {
    preHandler: fastify.authenticate,
    config: { scopes: ['orders:write'] },
    schema: { body: { type: 'object', required: ['item'], properties: { item: { type: 'string', minLength: 1 } }, additionalProperties: false } }
  }, async (request, reply) => {
    const order: Order = { id: orders.length + 1, item: request.body.item, owner: request.user.id }
    orders.push(order)
    return await reply.code(201).send({ ...order, owner: request.user.username })
  })
  return fastify
}
