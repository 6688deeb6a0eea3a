import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { Config } from '../config/index.js'
import type { Store } from '../store/index.js'

// What a command group is made of, so that cli/index.ts dispatches and documents every group alike.

/** docs/contract.md §7's exit codes, and one for failures it does not name so that scripts never mistake them for those. */
export const EXIT = { ok: 0, conflict: 1, usage: 2, failure: 3 } as const

/** A failure reported as one line on stderr, ending the process with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number

  constructor (message: string, exitCode: number) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** A command line that does not match the command's usage, which the dispatcher prints after the message. */
export class UsageError extends CliError {
  constructor (message: string) {
    super(message, EXIT.usage)
    this.name = 'UsageError'
  }
}

export interface CommandContext {
  config: Config
  /** Opens the store on first use, so that a command refusing its arguments touches no database; the dispatcher closes it. */
  store (): Promise<Store>
  /** Writes one line of result to stdout. */
  print (line: string): void
}

export interface Command {
  /** The arguments after the command's name, as the usage shows them. */
  usage: string
  summary: string
  run (args: string[], context: CommandContext): Promise<void>
}

/** A command group's commands by name, e.g. `add` in `oauth2-password user add`. */
export type CommandGroup = Record<string, Command>

type Options = NonNullable<ParseArgsConfig['options']>
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[], options: O, strict: true, allowPositionals: true }>>['values']

/** Parses `args` strictly, requiring exactly one positional argument for each of `names`. */
export function parseCommandLine<O extends Options, const N extends string> (
  args: string[],
  options: O,
  names: readonly N[]
): { values: Values<O>, params: Record<N, string> } {
  let parsed
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true })
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((err as Error).message)
    throw err
  }
  const { values, positionals } = parsed
  const missing = names.slice(positionals.length)
  if (missing.length > 0) throw new UsageError(`missing ${missing.map(name => `<${name}>`).join(' ')}`)
  const extra = positionals.slice(names.length)
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`)
  const params = Object.fromEntries(names.map((name, i) => [name, positionals[i]])) as Record<N, string>
  return { values, params }
}
