import { renderUnicodeCompact } from 'uqr'
import {
  EmailMissingError, InvalidScopeError, InvalidUserFieldError, InvalidUsernameError, SessionNotFoundError, TotpEnrolledError, TotpNotEnrolledError, UserExistsError,
  UserNotFoundError, WeakPasswordError, checkScopes, checkText, checkUsername, createUsers, type Users
} from '../users/users.js'
import { KeyEncryption } from '../tokens/key-encryption.js'
import { CliError, EXIT, UsageError, parseCommandLine, type CommandContext, type CommandGroup } from './command.js'
import { checkDecrypts } from './keys.js'
import { secretReader } from './input.js'

// `oauth2-password user …`, on the users API that hosts use from code: every username is
// canonicalised first, and the canonical form is what is printed. Arguments are checked with the
// API's own checks before the store is opened, so that a refused command touches no database.

export const quote = (text: string): string => JSON.stringify(text)

/** The users API's refusals, as the CLI's exit codes: bad input is usage (2), a taken or missing user a conflict (1). */
function asCliError (error: unknown): unknown {
  if (error instanceof InvalidUsernameError || error instanceof WeakPasswordError || error instanceof InvalidScopeError ||
    error instanceof InvalidUserFieldError) {
    return new CliError(error.message, EXIT.usage)
  }
  if (error instanceof UserExistsError || error instanceof UserNotFoundError || error instanceof TotpEnrolledError ||
    error instanceof TotpNotEnrolledError || error instanceof EmailMissingError || error instanceof SessionNotFoundError) {
    return new CliError(error.message, EXIT.conflict)
  }
  return error
}

/** Runs a command, turning the users API's errors into the CLI's. */
async function refusing (work: () => Promise<void>): Promise<void> {
  try {
    await work()
  } catch (error) {
    throw asCliError(error)
  }
}

/** The users API on the command's store, hashing with the ARGON2_* and PASSWORD_MIN_LENGTH of the environment. */
async function openUsers ({ config, store }: CommandContext): Promise<Users> {
  return createUsers({
    store: await store(),
    argon2: { memoryCost: config.ARGON2_MEMORY_COST, timeCost: config.ARGON2_TIME_COST, parallelism: config.ARGON2_PARALLELISM },
    passwordMinLength: config.PASSWORD_MIN_LENGTH,
    issuer: config.ISSUER,
    signingKeySecret: config.SIGNING_KEY_SECRET
  })
}

/** Only the syntax is checked: the CLI serves stores shared with plugins whose scope catalogues it cannot know. */
export function scopesOption (value: string | undefined): string[] {
  try {
    return checkScopes((value ?? '').split(' ').filter(scope => scope !== ''))
  } catch (error) {
    throw asCliError(error)
  }
}

function passwordReader (fromStdin: boolean | undefined): () => Promise<string> {
  return secretReader('password', '--password-stdin', fromStdin === true)
}

/** The user, who must exist before a password is asked for. */
async function existing (users: Users, username: string): Promise<void> {
  if (await users.find(username) === null) throw new UserNotFoundError(quote(username))
}

/**
 * `uri` as a QR code of Unicode half blocks, two modules a character high, light modules drawn: in
 * bright white on black whatever the terminal's colours, so that a phone reads it on a light theme too.
 */
function qrCode (uri: string): string {
  return renderUnicodeCompact(uri, { border: 2 }).split('\n').map(line => `\x1b[97;40m${line}\x1b[0m`).join('\n')
}

export function formatTable (rows: string[][]): string[] {
  const width = (cell: string): number => [...cell].length
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map(row => width(row[column] ?? '')))) ?? []
  return rows.map(row => row.map((cell, column) =>
    column === row.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - width(cell))
  ).join('  '))
}

const passwordOption = { 'password-stdin': { type: 'boolean' } } as const

export const userCommands: CommandGroup = {
  add: {
    usage: 'add <username> [--scopes "me items"] [--email E] [--full-name N] [--password-stdin]',
    summary: 'create a user allowed the given scopes (default: none)',
    async run (args, context) {
      const { values, params } = parseCommandLine(args, {
        scopes: { type: 'string' },
        email: { type: 'string' },
        'full-name': { type: 'string' },
        ...passwordOption
      }, ['username'])
      await refusing(async () => {
        const username = checkUsername(params.username)
        const scopes = scopesOption(values.scopes)
        // Named by their flags here; the API names them email and fullName.
        const email = checkText('--email', values.email)
        const fullName = checkText('--full-name', values['full-name'])
        const readPassword = passwordReader(values['password-stdin'])
        const users = await openUsers(context)
        // Checked before asking, so that nobody types a password twice only to learn the name is taken.
        if (await users.find(username) !== null) throw new UserExistsError(quote(username))
        await users.create({ username, password: await readPassword(), scopes, email, fullName })
        context.print(`created user ${quote(username)}`)
      })
    }
  },
  passwd: {
    usage: 'passwd <username> [--password-stdin]',
    summary: 'set a new password; tokens issued before stop working',
    async run (args, context) {
      const { values, params } = parseCommandLine(args, passwordOption, ['username'])
      await refusing(async () => {
        const username = checkUsername(params.username)
        const readPassword = passwordReader(values['password-stdin'])
        const users = await openUsers(context)
        await existing(users, username)
        await users.setPassword(username, await readPassword())
        context.print(`changed the password of user ${quote(username)}`)
      })
    }
  },
  disable: {
    usage: 'disable <username>',
    summary: 'refuse the user\'s logins and tokens until enabled again',
    async run (args, context) {
      await refusing(async () => {
        const username = checkUsername(parseCommandLine(args, {}, ['username']).params.username)
        await (await openUsers(context)).disable(username)
        context.print(`disabled user ${quote(username)}`)
      })
    }
  },
  enable: {
    usage: 'enable <username>',
    summary: 'let a disabled user log in again',
    async run (args, context) {
      await refusing(async () => {
        const username = checkUsername(parseCommandLine(args, {}, ['username']).params.username)
        await (await openUsers(context)).enable(username)
        context.print(`enabled user ${quote(username)}`)
      })
    }
  },
  remove: {
    usage: 'remove <username>',
    summary: 'delete the user; their tokens stop working',
    async run (args, context) {
      await refusing(async () => {
        const username = checkUsername(parseCommandLine(args, {}, ['username']).params.username)
        await (await openUsers(context)).remove(username)
        context.print(`removed user ${quote(username)}`)
      })
    }
  },
  totp: {
    usage: 'totp enroll|disable <username>',
    summary: 'give the user a TOTP second factor (prints the otpauth:// URI, a QR code on a terminal, and ten recovery codes), or remove it',
    async run (args, context) {
      const { params } = parseCommandLine(args, {}, ['action', 'username'])
      if (params.action !== 'enroll' && params.action !== 'disable') throw new UsageError(`unknown action ${quote(params.action)}: enroll or disable`)
      await refusing(async () => {
        const username = checkUsername(params.username)
        const users = await openUsers(context)
        if (params.action === 'disable') {
          await users.disableTotp(username)
          context.print(`removed the second factor of user ${quote(username)}`)
          return
        }
        // The TOTP secret is sealed with SIGNING_KEY_SECRET as the signing keys are: a secret missing or
        // other than theirs would store one the servers cannot read, or read in clear.
        checkDecrypts(await (await context.store()).listSigningKeys(), new KeyEncryption(context.config.SIGNING_KEY_SECRET))
        const { secret, uri, recoveryCodes } = await users.enrollTotp(username)
        context.print(`user ${quote(username)} now needs a one-time code to log in; add this to their authenticator app:`)
        context.print(uri)
        if (process.stdout.isTTY === true) context.print(qrCode(uri))
        context.print(`or type in the secret ${secret}`)
        context.print('recovery codes, each usable once in place of a code (shown only now):')
        for (const code of recoveryCodes) context.print(`  ${code}`)
      })
    }
  },
  list: {
    usage: 'list [--json]',
    summary: 'print every user, as a table or as a JSON array',
    async run (args, context) {
      const { values } = parseCommandLine(args, { json: { type: 'boolean' } }, [])
      const users = await (await openUsers(context)).list()
      if (values.json === true) {
        context.print(JSON.stringify(users.map(user => ({
          id: user.id,
          username: user.username,
          email: user.email,
          full_name: user.fullName,
          scopes: user.scopes,
          disabled: user.disabled,
          email_verified: user.emailVerified,
          created_at: new Date(user.createdAt).toISOString()
        })), null, 2))
        return
      }
      const rows = users.map(user => [
        user.username,
        user.scopes.length > 0 ? user.scopes.join(' ') : '-',
        user.disabled ? 'yes' : 'no',
        user.email ?? '-',
        user.fullName ?? '-',
        new Date(user.createdAt).toISOString()
      ])
      for (const line of formatTable([['USERNAME', 'SCOPES', 'DISABLED', 'EMAIL', 'FULL NAME', 'CREATED'], ...rows])) context.print(line)
    }
  },
  'verify-email': {
    usage: 'verify-email <username>',
    summary: 'mark the user\'s e-mail address verified, as the code e-mailed to it would',
    async run (args, context) {
      await refusing(async () => {
        const username = checkUsername(parseCommandLine(args, {}, ['username']).params.username)
        await (await openUsers(context)).verifyEmail(username)
        context.print(`verified the e-mail address of user ${quote(username)}`)
      })
    }
  },
  sessions: {
    usage: 'sessions <username> [--json]',
    summary: 'print the user\'s live logins, most recently used first',
    async run (args, context) {
      const { values, params } = parseCommandLine(args, { json: { type: 'boolean' } }, ['username'])
      await refusing(async () => {
        const sessions = await (await openUsers(context)).sessions(checkUsername(params.username))
        const rows = sessions.map(session => ({
          id: session.id,
          client_id: session.clientId,
          created_at: new Date(session.createdAt).toISOString(),
          last_used_at: new Date(session.lastUsedAt).toISOString()
        }))
        if (values.json === true) {
          context.print(JSON.stringify(rows, null, 2))
          return
        }
        const table = rows.map(row => [row.id, row.client_id, row.created_at, row.last_used_at])
        for (const line of formatTable([['ID', 'CLIENT', 'CREATED', 'LAST USED'], ...table])) context.print(line)
      })
    }
  },
  logout: {
    usage: 'logout <username> [--session <id>]',
    summary: 'end one login of the user (--session, an id from `user sessions`), or every login and token',
    async run (args, context) {
      const { values, params } = parseCommandLine(args, { session: { type: 'string' } }, ['username'])
      await refusing(async () => {
        const username = checkUsername(params.username)
        const users = await openUsers(context)
        if (values.session === undefined) {
          await users.endSessions(username)
          context.print(`ended every login of user ${quote(username)}`)
        } else {
          await users.endSession(username, values.session)
          context.print(`ended login ${quote(values.session)} of user ${quote(username)}`)
        }
      })
    }
  }
}
