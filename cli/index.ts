#!/usr/bin/env node
import { ConfigError, loadConfig } from '../config/index.js'
import { openStore, type Store } from '../store/index.js'
import { CliError, EXIT, UsageError, type Command, type CommandGroup } from './command.js'
import { userCommands } from './users.js'
import { clientCommands } from './clients.js'
import { keyCommands } from './keys.js'

// `oauth2-password` (docs/contract.md §7): `<group> <command> [arguments]`, a new group being one more entry in `groups`.

const NAME = 'oauth2-password'

const groups: Record<string, CommandGroup> = {
  user: userCommands,
  client: clientCommands,
  keys: keyCommands
}

const isHelp = (arg: string): boolean => arg === '--help' || arg === '-h'

const lookup = <T>(table: Record<string, T>, key: string): T | undefined => Object.hasOwn(table, key) ? table[key] : undefined

function commandLines (groupName: string, group: CommandGroup): string[] {
  return Object.values(group).flatMap(command => [`  ${NAME} ${groupName} ${command.usage}`, `      ${command.summary}`])
}

function fullUsage (): string {
  return [
    `Usage: ${NAME} <group> <command> [arguments]`,
    '',
    ...Object.entries(groups).flatMap(([name, group]) => commandLines(name, group)),
    '',
    'Without --password-stdin (--secret-stdin), the password (secret) is asked for twice on the terminal; with it,',
    'stdin is the password less one final line break. Configuration comes from the environment as for the server:',
    'DATABASE_URL, PASSWORD_MIN_LENGTH, ACCESS_TOKEN_TTL, JWT_ALGORITHM, ARGON2_MEMORY_COST, ARGON2_TIME_COST,',
    'ARGON2_PARALLELISM, SIGNING_KEY_SECRET (keys rotate encrypts the new key with it; keys encrypt, the stored ones;',
    'user totp enroll, the TOTP secret), ISSUER (whose host authenticator apps show beside the codes).',
    '',
    'Exit status: 0 success; 1 the user or client exists already or is not found; 2 bad usage or configuration;',
    '3 any other failure.'
  ].join('\n')
}

function groupUsage (groupName: string, group: CommandGroup): string {
  return [`Usage: ${NAME} ${groupName} <command> [arguments]`, '', ...commandLines(groupName, group)].join('\n')
}

function help (text: string): number {
  process.stdout.write(`${text}\n`)
  return EXIT.ok
}

/** Says what is wrong, then how the command is used. */
function misuse (message: string, usage: string): number {
  process.stderr.write(`${message}\n${usage}\n`)
  return EXIT.usage
}

async function run (command: Command, args: string[], usage: string): Promise<number> {
  let opened: Promise<Store> | undefined
  try {
    const config = loadConfig(process.env)
    const store = (): Promise<Store> => (opened ??= openStore(config.DATABASE_URL, { name: 'DATABASE_URL' }))
    const print = (line: string): void => { process.stdout.write(`${line}\n`) }
    try {
      await command.run(args, { config, store, print })
    } finally {
      // A store that failed to open has already failed the command: only an open one needs closing.
      await opened?.then(store => store.close(), () => {})
    }
    return EXIT.ok
  } catch (err) {
    if (err instanceof UsageError) return misuse(err.message, usage)
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`)
      return err.exitCode
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      return EXIT.usage
    }
    // A store failure's own message is the one written for a client; what happened is its cause.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
    process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}${cause}\n`)
    return EXIT.failure
  }
}

async function main (argv: string[]): Promise<number> {
  const [groupName, commandName, ...args] = argv
  if (groupName === undefined) return misuse('missing command', fullUsage())
  if (isHelp(groupName)) return help(fullUsage())
  const group = lookup(groups, groupName)
  if (group === undefined) return misuse(`unknown command ${JSON.stringify(groupName)}`, fullUsage())
  if (commandName === undefined) return misuse(`missing command after ${JSON.stringify(groupName)}`, groupUsage(groupName, group))
  if (isHelp(commandName)) return help(groupUsage(groupName, group))
  const command = lookup(group, commandName)
  if (command === undefined) {
    return misuse(`unknown command ${JSON.stringify(`${groupName} ${commandName}`)}`, groupUsage(groupName, group))
  }
  const usage = `Usage: ${NAME} ${groupName} ${command.usage}`
  // Help wins over every other argument before `--`, as it does for most tools.
  const terminator = args.indexOf('--')
  if ((terminator === -1 ? args : args.slice(0, terminator)).some(isHelp)) return help(`${usage}\n    ${command.summary}`)
  return await run(command, args, usage)
}

process.exitCode = await main(process.argv.slice(2))
