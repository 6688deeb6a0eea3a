import { DuplicateClientError } from '../store/index.js'
import { FIRST_PARTY } from '../clients/authentication.js'
import { hashClientSecret } from '../clients/secrets.js'
import { CliError, EXIT, UsageError, parseCommandLine, type CommandGroup } from './command.js'
import { secretReader } from './input.js'
import { formatTable, quote, scopesOption } from './users.js'

// `oauth2-password client …` (docs/contract.md §7): registered clients, confidential (with a secret) or public.

/** A secret a person could remember is a password; a client's should come from a random generator. */
const SECRET_MIN_LENGTH = 32

/** RFC 6749 §A.1 allows any printable ASCII; spaces would not survive the CLI's own table. */
function clientIdArgument (id: string): string {
  if (!/^[\x21-\x7E]{1,128}$/.test(id)) {
    throw new CliError(`invalid client id ${quote(id)}: 1 to 128 printable ASCII characters without spaces`, EXIT.usage)
  }
  if (id === FIRST_PARTY) throw new CliError(`${quote(FIRST_PARTY)} is the built-in public client and cannot be changed`, EXIT.usage)
  return id
}

async function hashSecret (read: () => Promise<string>): Promise<string> {
  const secret = await read()
  if ([...secret].length < SECRET_MIN_LENGTH) {
    throw new CliError(`the secret must be at least ${SECRET_MIN_LENGTH} characters; make one with: openssl rand -base64 32`, EXIT.usage)
  }
  return hashClientSecret(secret)
}

export const clientCommands: CommandGroup = {
  add: {
    usage: 'add <client_id> [--scopes "me items"] [--secret-stdin | --public]',
    summary: 'register a confidential client (secret from stdin or asked twice) or, with --public, a public one',
    async run (args, { store, print }) {
      const { values, params } = parseCommandLine(args, {
        scopes: { type: 'string' },
        'secret-stdin': { type: 'boolean' },
        public: { type: 'boolean' }
      }, ['client_id'])
      const id = clientIdArgument(params.client_id)
      const scopes = scopesOption(values.scopes)
      if (values.public === true && values['secret-stdin'] === true) throw new UsageError('--public and --secret-stdin exclude each other')
      const readSecret = values.public === true ? null : secretReader('secret', '--secret-stdin', values['secret-stdin'] === true)
      const clients = await store()
      if (await clients.findClient(id) !== null) throw new CliError(`client ${quote(id)} exists already`, EXIT.conflict)
      const secretHash = readSecret === null ? null : await hashSecret(readSecret)
      try {
        await clients.createClient({ id, secretHash, scopes, createdAt: Date.now() })
      } catch (err) {
        if (err instanceof DuplicateClientError) throw new CliError(`client ${quote(id)} exists already`, EXIT.conflict)
        throw err
      }
      print(`created ${secretHash === null ? 'public' : 'confidential'} client ${quote(id)}`)
    }
  },
  remove: {
    usage: 'remove <client_id>',
    summary: 'delete the client; the logins made through it can no longer be refreshed',
    async run (args, { store, print }) {
      const id = clientIdArgument(parseCommandLine(args, {}, ['client_id']).params.client_id)
      if (!await (await store()).removeClient(id)) throw new CliError(`client ${quote(id)} not found`, EXIT.conflict)
      print(`removed client ${quote(id)}`)
    }
  },
  list: {
    usage: 'list [--json]',
    summary: 'print every registered client, as a table or as a JSON array',
    async run (args, { store, print }) {
      const { values } = parseCommandLine(args, { json: { type: 'boolean' } }, [])
      const clients = await (await store()).listClients()
      if (values.json === true) {
        print(JSON.stringify(clients.map(client => ({
          client_id: client.id,
          type: client.secretHash === null ? 'public' : 'confidential',
          scopes: client.scopes,
          created_at: new Date(client.createdAt).toISOString()
        })), null, 2))
        return
      }
      const rows = clients.map(client => [
        client.id,
        client.secretHash === null ? 'public' : 'confidential',
        client.scopes.length > 0 ? client.scopes.join(' ') : '-',
        new Date(client.createdAt).toISOString()
      ])
      for (const line of formatTable([['CLIENT', 'TYPE', 'SCOPES', 'CREATED'], ...rows])) print(line)
    }
  }
}
