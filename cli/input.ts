import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { CliError, EXIT, UsageError } from './command.js'

// Secrets come from stdin or from a prompt without echo, never from argv, which every user of the host can read.

/** Far above any password (at most 1024 code points), and low enough that `< /dev/zero` fails instead of eating memory. */
const MAX_STDIN_BYTES = 64 * 1024

/**
 * How a command will obtain a new secret, decided before any work, so that an invocation that
 * cannot supply one fails before it touches the store.
 */
export function secretReader (noun: string, stdinFlag: string, fromStdin: boolean): () => Promise<string> {
  if (fromStdin) return () => readStdinSecret(noun)
  if (process.stdin.isTTY !== true) {
    throw new UsageError(`stdin is not a terminal to ask for the ${noun} on; pass the ${noun} on stdin with ${stdinFlag}`)
  }
  return () => promptNewSecret(noun)
}

async function readStdinSecret (noun: string): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_STDIN_BYTES) throw new CliError(`stdin holds more than ${MAX_STDIN_BYTES} bytes, too many for a ${noun}`, EXIT.usage)
    chunks.push(chunk)
  }
  let text: string
  try {
    // ignoreBOM keeps a leading U+FEFF: every byte but the final line break belongs to the secret.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.concat(chunks))
  } catch {
    throw new CliError(`the ${noun} on stdin is not valid UTF-8`, EXIT.usage)
  }
  // One line break is how echo and here-strings end their text; anything more was typed on purpose.
  return text.replace(/\r?\n$/, '')
}

/** Asks twice on the terminal, echoing nothing, and insists that both answers match. */
async function promptNewSecret (noun: string): Promise<string> {
  // readline echoes what is typed to its output; a sink in its place is what hides the secret.
  const sink = new Writable({ write (_chunk, _encoding, callback) { callback() } })
  const rl = createInterface({ input: process.stdin, output: sink, terminal: true, historySize: 0 })
  let interrupted = false
  rl.on('SIGINT', () => {
    interrupted = true
    rl.close()
  })
  // One iterator for both questions, so that two lines pasted at once are both answered.
  const lines = rl[Symbol.asyncIterator]()
  const ask = async (prompt: string): Promise<string> => {
    process.stderr.write(prompt)
    const line = await lines.next()
    process.stderr.write('\n')
    if (line.done === true) throw interrupted ? new CliError('interrupted', 130) : new CliError(`no ${noun} entered`, EXIT.usage)
    return line.value
  }
  try {
    const secret = await ask(`${noun[0]?.toUpperCase()}${noun.slice(1)}: `)
    if (secret !== await ask(`Repeat ${noun}: `)) throw new CliError(`the two ${noun}s differ`, EXIT.usage)
    return secret
  } finally {
    rl.close()
  }
}
