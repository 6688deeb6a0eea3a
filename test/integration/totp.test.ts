import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { renderUnicodeCompact } from 'uqr'
import { PASSWORD, TEST_ARGON2 } from '../helper.js'
import { findTraces } from '../key-traces.js'
import { CLI } from '../paths.js'
import { awayFromStepEdge, codeAt, secretOf, stepAt } from '../totp-codes.js'
import { POSTGRES_URL, call, cli, freshSchema, startServer, token, withPostgres, type Answer, type Server } from './helper.js'

// The second factor end to end (SPEC §15), with the compiled CLI and server processes (`npm run build`
// first): an operator enrolls a user with `oauth2-password user totp enroll`, two servers sharing one
// store each accept a code once between them, and `user totp disable` removes the requirement. On a
// SQLite file and on PostgreSQL. Codes come from test/totp-codes.ts, not from the server's library.

const SECRET = 'vK8pQ2wX5zR9tY3nB6mC1jH4gF7dS0aL'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'totp-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
let databases = 0

// Starting servers and CLI processes and waiting for TOTP steps took 45 s of tap's default 120 on a
// 2-core VM running the rest of the suite; four minutes keeps a loaded machine far from the limit.
t.setTimeout(4 * 60_000)

// The tests run side by side: each has its own store, servers and CLI runs, and most of their time is
// spent waiting (for a process to start, or for a TOTP time step to have enough of it left).
t.jobs = 4

interface Enrollment {
  uri: string
  secret: string
  recoveryCodes: string[]
}

/** What `user totp enroll` printed: the URI line, the secret, and the ten indented recovery codes. */
function parseEnrollment (t: Test, stdout: string, username: string): Enrollment {
  const lines = stdout.split('\n')
  t.equal(lines[0], `user "${username}" now needs a one-time code to log in; add this to their authenticator app:`)
  const uri = lines.find(line => line.startsWith('otpauth://')) ?? ''
  const secret = /^or type in the secret ([A-Z2-7]+)$/m.exec(stdout)?.[1] ?? ''
  t.equal(secretOf(uri), secret, 'the printed secret is the URI\'s')
  const recoveryCodes = lines.filter(line => /^ {2}[0-9a-z]{4}(-[0-9a-z]{4}){3}$/.test(line)).map(line => line.trim())
  t.equal(recoveryCodes.length, 10, 'ten recovery codes')
  return { uri, secret, recoveryCodes }
}

async function passwordLogin (server: Server, username: string, code?: string): Promise<Answer> {
  return await token(server, { grant_type: 'password', username, password: PASSWORD, ...(code !== undefined && { totp: code }) })
}

function assertRefused (t: Test, answer: Answer, description: RegExp, message: string): void {
  t.equal(answer.status, 400, message, { body: answer.body })
  t.equal(answer.json().error, 'invalid_grant', message)
  t.match(answer.json().error_description, description, message)
}

interface Backend {
  name: string
  skip: string | false
  /** The DATABASE_URL of a new store, removed at teardown; `stored` reads the user's stored TOTP secret there. */
  open: (t: Test) => { url: string, file: string | null, stored: (userId: string) => Promise<string> }
}

const BACKENDS: Backend[] = [
  {
    name: 'a SQLite file',
    skip: false,
    open: () => {
      const file = path.join(tmp, `db-${++databases}`, 'auth.db')
      return {
        url: `sqlite:${file}`,
        file,
        stored: async userId => {
          const { default: Database } = await import('better-sqlite3')
          const db = new Database(file, { readonly: true })
          try {
            return (db.prepare('SELECT secret FROM totp_enrollments WHERE user_id = ?').pluck().get(userId) as string | undefined) ?? ''
          } finally {
            db.close()
          }
        }
      }
    }
  },
  {
    name: 'PostgreSQL',
    skip: POSTGRES_URL === '' ? 'TEST_POSTGRES_URL is not set' : false,
    open: t => {
      const { schema, url } = freshSchema(t, 'totp_integration_')
      return {
        url,
        file: null,
        stored: async userId => await withPostgres(schema, async client =>
          String((await client.query('SELECT secret FROM totp_enrollments WHERE user_id = $1', [userId])).rows[0]?.secret ?? ''))
      }
    }
  }
]

for (const backend of BACKENDS) {
  t.test(`on ${backend.name}`, { skip: backend.skip }, async t => {
    t.test('enrolled with the CLI, a code logs in once between two servers; disabled with the CLI, the password alone does', async t => {
      const store = backend.open(t)
      const env = { DATABASE_URL: store.url, SIGNING_KEY_SECRET: SECRET, ISSUER: 'https://auth.example.com' }
      const added = await cli(t, env, ['user', 'add', 'alice', '--scopes', 'me', '--password-stdin'], `${PASSWORD}\n`).done
      t.equal(added.code, 0, added.stderr)
      const servers = [await startServer(t, env), await startServer(t, env)] as const
      const [one, two] = servers

      await awayFromStepEdge(15_000)
      const enrolled = await cli(t, env, ['user', 'totp', 'enroll', 'Alice']).done
      t.equal(enrolled.code, 0, enrolled.stderr)
      t.equal(enrolled.stderr, '')
      // eslint-disable-next-line no-control-regex -- ESC starts the terminal control sequences a QR code would print
      t.notMatch(enrolled.stdout, /\u2588|\u2580|\u2584|\x1b/, 'no QR code when stdout is not a terminal')
      const { uri, secret, recoveryCodes } = parseEnrollment(t, enrolled.stdout, 'alice')
      t.match(uri, /^otpauth:\/\/totp\/auth\.example\.com:alice\?issuer=auth\.example\.com&secret=[A-Z2-7]{32}&algorithm=SHA1&digits=6&period=30$/)

      const step = stepAt(Date.now())
      assertRefused(t, await passwordLogin(one, 'alice'), /^A one-time code is required$/, 'no code')
      const first = await passwordLogin(one, 'alice', codeAt(secret, step))
      t.equal(first.status, 200, first.body)
      assertRefused(t, await passwordLogin(two, 'alice', codeAt(secret, step)), /wrong or was used/, 'the same code on the other server')

      const raced = await Promise.all([one, two, one, two].map(server => passwordLogin(server, 'alice', codeAt(secret, step + 1))))
      t.equal(raced.filter(answer => answer.status === 200).length, 1, `the next step's code sent to both at once: ${raced.map(answer => answer.status).join(' ')}`)
      const recovered = await Promise.all([one, two].map(server => passwordLogin(server, 'alice', recoveryCodes[0])))
      t.equal(recovered.filter(answer => answer.status === 200).length, 1, 'a recovery code sent to both at once')
      assertRefused(t, await passwordLogin(two, 'alice', codeAt(secret, step + 2)), /wrong or was used/, 'two steps ahead')

      const alice = JSON.parse((await cli(t, env, ['user', 'list', '--json']).done).stdout)[0]
      const stored = await store.stored(alice.id)
      t.match(stored, /^\$aes-256-gcm\$v=1\$/, 'stored encrypted')
      t.notOk(stored.includes(secret))
      if (store.file !== null) t.strictSame(findTraces(store.file, [{ name: 'the secret', bytes: Buffer.from(secret) }]), [], 'in none of the database files')

      const twice = await cli(t, env, ['user', 'totp', 'enroll', 'alice']).done
      t.same(twice, { code: 1, stdout: '', stderr: 'user "alice" has a TOTP second factor already; disable it first\n' })

      const disabled = await cli(t, env, ['user', 'totp', 'disable', 'alice']).done
      t.same(disabled, { code: 0, stdout: 'removed the second factor of user "alice"\n', stderr: '' })
      for (const server of servers) t.equal((await passwordLogin(server, 'alice')).status, 200, 'the password alone logs in')
      const none = await cli(t, env, ['user', 'totp', 'disable', 'alice']).done
      t.same(none, { code: 1, stdout: '', stderr: 'user "alice" has no TOTP second factor\n' })

      for (const server of servers) {
        const output = server.output()
        for (const value of [secret, ...recoveryCodes]) t.notOk(output.includes(value), 'the server logs hold no secret or recovery code')
        for (const offset of [0, 1, 2]) t.notOk(output.includes(codeAt(secret, step + offset)), 'nor a one-time code')
        t.match(output, /"outcome":"wrong_code"/, 'but the refusals are audited')
      }
    })

    t.test('enrolled over HTTP on one server, confirmed on the other', async t => {
      const store = backend.open(t)
      const env = { DATABASE_URL: store.url }
      t.equal((await cli(t, env, ['user', 'add', 'bob', '--password-stdin'], `${PASSWORD}\n`).done).code, 0)
      const [one, two] = [await startServer(t, env), await startServer(t, env)]
      const accessToken = (await passwordLogin(one, 'bob')).json().access_token
      const headers = { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }

      await awayFromStepEdge()
      const started = await call(`${one.url}/totp/enroll`, { method: 'POST', headers: { authorization: headers.authorization } })
      t.equal(started.status, 200, started.body)
      const secret = started.json().secret
      const step = stepAt(Date.now())
      const confirmed = await call(`${two.url}/totp/confirm`, { method: 'POST', headers, body: JSON.stringify({ code: codeAt(secret, step) }) })
      t.equal(confirmed.status, 200, confirmed.body)
      t.equal(confirmed.json().recovery_codes.length, 10)
      assertRefused(t, await passwordLogin(one, 'bob', codeAt(secret, step)), /wrong or was used/, 'the confirming code is spent')
      t.equal((await passwordLogin(one, 'bob', codeAt(secret, step + 1))).status, 200)
      t.equal(await store.stored((JSON.parse((await cli(t, env, ['user', 'list', '--json']).done).stdout)[0]).id), secret, 'stored in clear without SIGNING_KEY_SECRET')
    })
  })
}

t.test('user totp: bad usage exits 2, an unknown user 1', async t => {
  const env = { DATABASE_URL: `sqlite:${path.join(tmp, `db-${++databases}`, 'auth.db')}` }
  const unknown = await cli(t, env, ['user', 'totp', 'rotate', 'alice']).done
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /^unknown action "rotate": enroll or disable\nUsage: oauth2-password user totp enroll\|disable <username>\n/)
  const missing = await cli(t, env, ['user', 'totp', 'enroll']).done
  t.equal(missing.code, 2)
  t.match(missing.stderr, /^missing <username>/)
  t.same(await cli(t, env, ['user', 'totp', 'enroll', 'nobody']).done, { code: 1, stdout: '', stderr: 'user "nobody" not found\n' })
  const help = await cli(t, env, ['user', '--help']).done
  t.match(help.stdout, 'oauth2-password user totp enroll|disable <username>')
})

t.test('user totp enroll refuses a SIGNING_KEY_SECRET missing or other than the signing keys\', writing nothing', async t => {
  const env = { DATABASE_URL: `sqlite:${path.join(tmp, `db-${++databases}`, 'auth.db')}` }
  t.equal((await cli(t, env, ['user', 'add', 'alice', '--password-stdin'], `${PASSWORD}\n`).done).code, 0)
  t.equal((await cli(t, { ...env, SIGNING_KEY_SECRET: SECRET }, ['keys', 'rotate']).done).code, 0, 'an encrypted signing key')
  const missing = await cli(t, env, ['user', 'totp', 'enroll', 'alice']).done
  t.equal(missing.code, 2)
  t.match(missing.stderr, /^signing key \S+ is encrypted in the store, and SIGNING_KEY_SECRET/)
  const other = await cli(t, { ...env, SIGNING_KEY_SECRET: 'another secret, also of 32 characters' }, ['user', 'totp', 'enroll', 'alice']).done
  t.equal(other.code, 2)
  t.match(other.stderr, /^signing key \S+ does not decrypt with this SIGNING_KEY_SECRET/)
  t.equal(other.stdout, '')
  t.same(await cli(t, env, ['user', 'totp', 'disable', 'alice']).done, { code: 1, stdout: '', stderr: 'user "alice" has no TOTP second factor\n' }, 'nothing was enrolled')
  const right = await cli(t, { ...env, SIGNING_KEY_SECRET: SECRET }, ['user', 'totp', 'enroll', 'alice']).done
  t.equal(right.code, 0, right.stderr)
})

t.test('on a terminal, user totp enroll also prints the URI as a QR code', { skip: spawnSync('script', ['--version']).status === 0 ? false : 'util-linux script is not installed' }, async t => {
  const database = path.join(tmp, `db-${++databases}`, 'auth.db')
  const env = { DATABASE_URL: `sqlite:${database}` }
  t.equal((await cli(t, env, ['user', 'add', 'alice', '--password-stdin'], `${PASSWORD}\n`).done).code, 0)
  // script(1) gives the CLI a pseudo-terminal as its standard output.
  const child = spawn('script', ['-qec', `'${process.execPath}' '${CLI}' user totp enroll alice`, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', ...TEST_ARGON2, ...env, TERM: 'dumb' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const [code] = await once(child, 'close') as [number | null]
  t.equal(code, 0, output)
  const lines = output.replaceAll('\r\n', '\n').split('\n')
  const uri = lines.find(line => line.startsWith('otpauth://')) ?? ''
  const expected = renderUnicodeCompact(uri, { border: 2 }).split('\n').map(line => `\x1b[97;40m${line}\x1b[0m`)
  const start = lines.indexOf(expected[0] ?? '')
  t.ok(start > lines.indexOf(uri), 'after the URI')
  t.strictSame(lines.slice(start, start + expected.length), expected, 'the QR code of the URI, white on black')
  t.match(lines[start + expected.length], /^or type in the secret [A-Z2-7]{32}$/)
})
