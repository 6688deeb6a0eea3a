import { build } from './app.js'

const app = await build({
  store: process.env.DATABASE_URL ?? 'memory:',
  issuer: process.env.ISSUER ?? 'http://127.0.0.1:3000',
  logger: true
})
await app.listen({ port: Number(process.env.PORT ?? 3000) })
