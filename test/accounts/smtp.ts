import type { AddressInfo } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import type { Test } from 'tap'

// A real SMTP server on loopback, in the test process: it takes what the server under test sends,
// and hands each message over parsed, to read the code out of it.

export interface Mailbox {
  /** `smtp://127.0.0.1:<port>`. */
  url: string
  /** Every message received so far, parsed. */
  messages: ParsedMail[]
  /** The next message to `to` not handed out yet, waiting for it up to 15 s. */
  next: (to: string) => Promise<ParsedMail>
  /** From now on the server refuses every recipient (`true`) or takes them again (`false`). */
  refuse: (refusing: boolean) => void
  close: () => Promise<void>
}

const WAIT_MS = 15_000

export async function smtpServer (t: Test): Promise<Mailbox> {
  const messages: ParsedMail[] = []
  const handedOut = new Set<ParsedMail>()
  const waiting: Array<() => void> = []
  let refusing = false
  const server = new SMTPServer({
    // No STARTTLS to offer (nodemailer would take it up, with a certificate it cannot trust), no login.
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo (_address, _session, callback) {
      if (refusing) callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }))
      else callback()
    },
    onData (stream, _session, callback) {
      simpleParser(stream).then(parsed => {
        messages.push(parsed)
        for (const wake of waiting.splice(0)) wake()
        callback()
      }, callback)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.server.address() as AddressInfo
  const close = async (): Promise<void> => { await new Promise<void>(resolve => server.close(() => resolve())) }
  t.teardown(close)

  function recipient (message: ParsedMail): string {
    const to = Array.isArray(message.to) ? message.to[0] : message.to
    return to?.value[0]?.address ?? ''
  }

  async function next (to: string): Promise<ParsedMail> {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const found = messages.find(message => !handedOut.has(message) && recipient(message) === to)
      if (found !== undefined) {
        handedOut.add(found)
        return found
      }
      if (Date.now() >= deadline) throw new Error(`no message to ${to} within ${WAIT_MS} ms`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, deadline - Date.now())
        waiting.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  return { url: `smtp://127.0.0.1:${port}`, messages, next, refuse: value => { refusing = value }, close }
}

/** The code in a message: the line of 43 base64url characters in its plain text, which its HTML has too. */
export function codeIn (message: ParsedMail): string {
  const code = /^([A-Za-z0-9_-]{43})$/m.exec(message.text ?? '')?.[1]
  if (code === undefined) throw new Error(`no code in ${JSON.stringify(message.text)}`)
  if (typeof message.html !== 'string' || !message.html.includes(code)) throw new Error('the HTML part lacks the code')
  return code
}
