import nodemailer, { type Transporter } from 'nodemailer'

// The account e-mails: a code to verify an address, and a code to reset a password, each as plain
// text and HTML from a template that a host may replace, sent over SMTP (RFC 5321) by nodemailer.

/** What a template is given to write one e-mail. */
export interface MailContext {
  /** The canonical username of the account the code is for. */
  username: string
  /** The code to type or paste; it works once. */
  code: string
  /** When the code stops working. */
  expiresAt: Date
  /** The server's issuer URL, to say who writes. */
  issuer: string
}

/** One e-mail: its subject and its body twice, as plain text and as HTML. */
export interface MailMessage {
  subject: string
  text: string
  html: string
}

export interface MailTemplates {
  /** Sent at registration and on request: the code that proves the user receives mail at the address. */
  verifyEmail: (context: MailContext) => MailMessage
  /** Sent on a forgotten password: the code that sets a new one. */
  resetPassword: (context: MailContext) => MailMessage
}

export type MailKind = keyof MailTemplates

/** What goes into HTML as text: the five characters that could end it. */
function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, character => `&#${character.charCodeAt(0)};`)
}

function minutesUntil (date: Date): number {
  return Math.round((date.getTime() - Date.now()) / 60_000)
}

export const DEFAULT_TEMPLATES: MailTemplates = {
  verifyEmail: ({ username, code, expiresAt, issuer }) => ({
    subject: 'Verify your e-mail address',
    text: `Hello ${username},\n\nyour code to verify this e-mail address is:\n\n${code}\n\n` +
      `It works once, for ${minutesUntil(expiresAt)} minutes. If you did not ask for it, ignore this message.\n\n${issuer}\n`,
    html: `<p>Hello ${escapeHtml(username)},</p><p>your code to verify this e-mail address is:</p><p><code>${escapeHtml(code)}</code></p>` +
      `<p>It works once, for ${minutesUntil(expiresAt)} minutes. If you did not ask for it, ignore this message.</p><p>${escapeHtml(issuer)}</p>`
  }),
  resetPassword: ({ username, code, expiresAt, issuer }) => ({
    subject: 'Reset your password',
    text: `Hello ${username},\n\nyour code to set a new password is:\n\n${code}\n\n` +
      `It works once, for ${minutesUntil(expiresAt)} minutes. If you did not ask for it, ignore this message: your password stays as it is.\n\n${issuer}\n`,
    html: `<p>Hello ${escapeHtml(username)},</p><p>your code to set a new password is:</p><p><code>${escapeHtml(code)}</code></p>` +
      `<p>It works once, for ${minutesUntil(expiresAt)} minutes. If you did not ask for it, ignore this message: your password stays as it is.</p><p>${escapeHtml(issuer)}</p>`
  })
}

/** The SMTP server refused the message, or could not be reached: nothing was sent. */
export class MailUnavailableError extends Error {
  readonly code = 'MAIL_UNAVAILABLE'
  constructor (cause: unknown) {
    super('the SMTP server did not take the message', { cause })
    this.name = 'MailUnavailableError'
  }
}

/** How long a connection, the server's greeting and each exchange may take, so that a hung server fails the request rather than hold it. */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 }

export interface MailerOptions {
  /** `smtp://` or `smtps://` (TLS from the start), with `user:password@` when the server asks for them. */
  url: string
  /** The sender, such as `Example <no-reply@example.com>`. */
  from: string
  templates?: Partial<MailTemplates>
}

/** Sends the account e-mails through one SMTP server. */
export class Mailer {
  readonly #transport: Transporter
  readonly #from: string
  readonly #templates: MailTemplates

  constructor (options: MailerOptions) {
    this.#transport = nodemailer.createTransport({ url: options.url, ...SMTP_TIMEOUTS })
    this.#from = options.from
    this.#templates = { ...DEFAULT_TEMPLATES, ...options.templates }
  }

  /** Resolves once the server accepted the message; rejects with MailUnavailableError otherwise. */
  async send (to: string, kind: MailKind, context: MailContext): Promise<void> {
    const message = this.#templates[kind](context)
    try {
      await this.#transport.sendMail({ from: this.#from, to, subject: message.subject, text: message.text, html: message.html })
    } catch (error) {
      throw new MailUnavailableError(error)
    }
  }

  close (): void {
    this.#transport.close()
  }
}
