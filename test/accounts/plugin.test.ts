import Fastify from 'fastify'
import t from 'tap'
import oauth2Password, { type OAuth2PasswordOptions } from '../../plugins/auth.js'
import { CHEAP_ARGON2, PASSWORD } from '../helper.js'
import { api } from './helper.js'
import { codeIn, smtpServer } from './smtp.js'

// The account endpoints of the plugin embedded in a host: under its prefix, with the host's own
// mail templates, and options checked at ready().

const BASE = { store: 'memory:', issuer: 'https://auth.example.test', scopes: { read: 'Read' }, argon2: CHEAP_ARGON2 }

t.test('under a prefix, with the host\'s templates: registration grants the configured scopes and mails the host\'s message', async t => {
  const mailbox = await smtpServer(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(oauth2Password, {
    ...BASE,
    prefix: '/auth',
    registration: { scopes: ['read'] },
    mail: {
      url: mailbox.url,
      from: 'no-reply@example.test',
      templates: {
        verifyEmail: ({ username, code }) => ({ subject: `Welcome, ${username}`, text: `Code:\n${code}\n`, html: `<b>${code}</b>` })
      }
    }
  })
  t.equal((await api(app, 'POST', '/register', { body: { username: 'alice', password: PASSWORD } })).statusCode, 404, 'nothing outside the prefix')
  const registered = await api(app, 'POST', '/auth/register', { body: { username: 'alice', password: PASSWORD, email: 'alice@example.test' } })
  t.equal(registered.statusCode, 201, registered.body)
  t.strictSame(registered.json().scopes, ['read'])
  const message = await mailbox.next('alice@example.test')
  t.equal(message.subject, 'Welcome, alice')
  t.equal((await api(app, 'POST', '/auth/email/verify', { body: { code: codeIn(message) } })).statusCode, 204)
  t.equal((await app.authStore.findUserByUsername('alice'))?.emailVerified, true)
})

t.test('account options are checked at ready(), naming the option and never echoing the SMTP URL', async t => {
  const cases: Array<{ name: string, options: Partial<OAuth2PasswordOptions> | Record<string, unknown>, message: RegExp }> = [
    { name: 'verification required without mail', options: { emailVerification: 'required' }, message: /option "emailVerification" is "required", which needs option "mail"/ },
    { name: 'an unknown verification', options: { emailVerification: 'always' }, message: /option "emailVerification" must be "optional" or "required"; received "always"/ },
    { name: 'a mail URL of another scheme', options: { mail: { url: 'http://user:hunter2@mail.example.test', from: 'a@b' } }, message: /^oauth2-password: option "mail.url" must be an smtp:\/\/ or smtps:\/\/ URL; received a string of 37 characters$/ },
    { name: 'a template that is no function', options: { mail: { url: 'smtp://127.0.0.1:25', from: 'a@b', templates: { verifyEmail: 'Hello' } } }, message: /option "mail.templates.verifyEmail" must be a function; received string/ },
    { name: 'a sender on two lines', options: { mail: { url: 'smtp://127.0.0.1:25', from: 'a@b\r\nBcc: c@d' } }, message: /option "mail.from" must be a sender address on one line/ },
    { name: 'registration as a boolean', options: { registration: true }, message: /option "registration" must be an object: its presence opens POST \/register/ },
    { name: 'an account limit of zero', options: { accountLimits: { register: 0 } }, message: /option "accountLimits.register" must be registrations from one address/ }
  ]
  for (const { name, options, message } of cases) {
    const app = Fastify()
    app.register(oauth2Password, { ...BASE, ...options } as OAuth2PasswordOptions)
    const error = await app.ready().then(() => null, (error: Error) => error)
    t.match(error?.message, message, name)
    t.notMatch(error?.message ?? '', 'hunter2', `${name}: no secret in the message`)
    await app.close()
  }
})
