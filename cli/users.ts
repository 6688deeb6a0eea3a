import type { Config } from '../config/index.js'
import { PasswordHasher, passwordProblem } from '../passwords/hasher.js'
import { canonicalUsername, usernameProblem } from '../passwords/username.js'
import { DuplicateUsernameError, type Store, type User } from '../store/index.js'
import { isScopeToken } from '../tokens/scopes.js'
import { CliError, EXIT, parseCommandLine, type CommandGroup } from './command.js'
import { secretReader } from './input.js'

// `oauth2-password user …` (SPEC §7): every username is canonicalised first, and the canonical form is what is printed.

export const quote = (text: string): string => JSON.stringify(text)

function usernameArgument (raw: string): string {
  const username = canonicalUsername(raw)
  const problem = usernameProblem(username)
  if (problem !== null) throw new CliError(`invalid username ${quote(username)}: ${problem}`, EXIT.usage)
  return username
}

function notFound (username: string): CliError {
  return new CliError(`user ${quote(username)} not found`, EXIT.conflict)
}

function taken (username: string): CliError {
  return new CliError(`user ${quote(username)} exists already`, EXIT.conflict)
}

async function findUser (store: Store, username: string): Promise<User> {
  const user = await store.findUserByUsername(username)
  if (user === null) throw notFound(username)
  return user
}

/** Only the syntax is checked: the CLI serves stores shared with plugins whose scope catalogues it cannot know. */
export function scopesOption (value: string | undefined): string[] {
  const scopes = (value ?? '').split(' ').filter(scope => scope !== '')
  const invalid = scopes.find(scope => !isScopeToken(scope))
  if (invalid !== undefined) {
    throw new CliError(`invalid scope ${quote(invalid)}: scopes are printable ASCII without quotes or backslashes, separated by spaces`, EXIT.usage)
  }
  return [...new Set(scopes)]
}

/** An empty value means none; control characters would garble `user list`. */
function textOption (flag: string, value: string | undefined): string | null {
  if (value === undefined || value === '') return null
  if (/\p{Cc}/u.test(value)) throw new CliError(`${flag} must not contain control characters`, EXIT.usage)
  return value
}

function passwordReader (fromStdin: boolean | undefined): () => Promise<string> {
  return secretReader('password', '--password-stdin', fromStdin === true)
}

async function hashNewPassword (read: () => Promise<string>, config: Config): Promise<string> {
  const password = await read()
  const problem = passwordProblem(password, config.PASSWORD_MIN_LENGTH)
  if (problem !== null) throw new CliError(problem, EXIT.usage)
  const hasher = new PasswordHasher({
    argon2: { memoryCost: config.ARGON2_MEMORY_COST, timeCost: config.ARGON2_TIME_COST, parallelism: config.ARGON2_PARALLELISM }
  })
  return await hasher.hash(password)
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
    async run (args, { config, store, print }) {
      const { values, params } = parseCommandLine(args, {
        scopes: { type: 'string' },
        email: { type: 'string' },
        'full-name': { type: 'string' },
        ...passwordOption
      }, ['username'])
      const username = usernameArgument(params.username)
      const scopes = scopesOption(values.scopes)
      const email = textOption('--email', values.email)
      const fullName = textOption('--full-name', values['full-name'])
      const readPassword = passwordReader(values['password-stdin'])
      const users = await store()
      // Checked before asking, so that nobody types a password twice only to learn the name is taken.
      if (await users.findUserByUsername(username) !== null) throw taken(username)
      const passwordHash = await hashNewPassword(readPassword, config)
      try {
        await users.createUser({ username, email, fullName, scopes, passwordHash })
      } catch (err) {
        if (err instanceof DuplicateUsernameError) throw taken(username)
        throw err
      }
      print(`created user ${quote(username)}`)
    }
  },
  passwd: {
    usage: 'passwd <username> [--password-stdin]',
    summary: 'set a new password; tokens issued before stop working',
    async run (args, { config, store, print }) {
      const { values, params } = parseCommandLine(args, passwordOption, ['username'])
      const username = usernameArgument(params.username)
      const readPassword = passwordReader(values['password-stdin'])
      const users = await store()
      const user = await findUser(users, username)
      const passwordHash = await hashNewPassword(readPassword, config)
      if (await users.updateUser(user.id, { passwordHash, revokeTokens: true }) === null) throw notFound(username)
      print(`changed the password of user ${quote(username)}`)
    }
  },
  disable: {
    usage: 'disable <username>',
    summary: 'refuse the user\'s logins and tokens until enabled again',
    async run (args, { store, print }) {
      const username = usernameArgument(parseCommandLine(args, {}, ['username']).params.username)
      const users = await store()
      const user = await findUser(users, username)
      // Raising tokenVersion too means enabling later does not revive tokens issued before.
      if (await users.updateUser(user.id, { disabled: true, revokeTokens: true }) === null) throw notFound(username)
      print(`disabled user ${quote(username)}`)
    }
  },
  enable: {
    usage: 'enable <username>',
    summary: 'let a disabled user log in again',
    async run (args, { store, print }) {
      const username = usernameArgument(parseCommandLine(args, {}, ['username']).params.username)
      const users = await store()
      const user = await findUser(users, username)
      if (await users.updateUser(user.id, { disabled: false }) === null) throw notFound(username)
      print(`enabled user ${quote(username)}`)
    }
  },
  remove: {
    usage: 'remove <username>',
    summary: 'delete the user; their tokens stop working',
    async run (args, { store, print }) {
      const username = usernameArgument(parseCommandLine(args, {}, ['username']).params.username)
      const users = await store()
      const user = await findUser(users, username)
      if (!await users.removeUser(user.id)) throw notFound(username)
      print(`removed user ${quote(username)}`)
    }
  },
  list: {
    usage: 'list [--json]',
    summary: 'print every user, as a table or as a JSON array',
    async run (args, { store, print }) {
      const { values } = parseCommandLine(args, { json: { type: 'boolean' } }, [])
      const users = await (await store()).listUsers()
      if (values.json === true) {
        print(JSON.stringify(users.map(user => ({
          id: user.id,
          username: user.username,
          email: user.email,
          full_name: user.fullName,
          scopes: user.scopes,
          disabled: user.disabled,
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
      for (const line of formatTable([['USERNAME', 'SCOPES', 'DISABLED', 'EMAIL', 'FULL NAME', 'CREATED'], ...rows])) print(line)
    }
  }
}
