import { readFileSync } from 'node:fs'

// The list of common passwords that no new password may be (NIST SP 800-63B-4 §3.1.1.2): the
// 100,000 most common of at least 8 characters in ten million leaked credentials, shipped beside
// this module (common-passwords.txt, its origin and licence in common-passwords.LICENSE).

/** Where the list is, beside this module both in the sources and in dist/ (the build copies it). */
const LIST = new URL('./common-passwords.txt', import.meta.url)

/**
 * The form in which a password is compared with the list, and in which the list is written: NFKC,
 * as passwords are hashed, then lower case, so that capitals alone do not make a listed password new.
 */
export function blocklistForm (password: string): string {
  return password.normalize('NFKC').toLowerCase()
}

/**
 * The list as one string of sorted lines and the offset of each line, searched by bisection: about
 * 1 MB in two objects, where a Set of 100,000 strings would take several and 100,000 objects.
 */
export class SortedLines {
  readonly #text: string
  /** Where each line starts; one more entry, past the end, closes the last line. */
  readonly #starts: Uint32Array

  /** `text`: lines ending in "\n", sorted by UTF-16 code unit, without repeats. */
  constructor (text: string) {
    let count = 0
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count++
    const starts = new Uint32Array(count + 1)
    let line = 0
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) starts[++line] = at + 1
    this.#text = text
    this.#starts = starts
  }

  get size (): number {
    return this.#starts.length - 1
  }

  has (entry: string): boolean {
    let low = 0
    let high = this.size - 1
    while (low <= high) {
      const middle = (low + high) >>> 1
      // Less the line's "\n".
      const line = this.#text.slice(this.#starts[middle], this.#starts[middle + 1]! - 1)
      if (line === entry) return true
      if (line < entry) low = middle + 1
      else high = middle - 1
    }
    return false
  }
}

let list: SortedLines | undefined

/** The list, read from its file on first use and kept. */
export function commonPasswords (): SortedLines {
  list ??= new SortedLines(readFileSync(LIST, 'utf8'))
  return list
}

/** Whether `password` is on the list, in any case. */
export function isCommonPassword (password: string): boolean {
  return commonPasswords().has(blocklistForm(password))
}
