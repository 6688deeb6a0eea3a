import { createPrivateKey } from 'node:crypto'
import fs from 'node:fs'

// What a private signing key leaves in a file, and where in a SQLite database's files it is found.

export interface Trace {
  name: string
  bytes: Buffer
}

/** The label of every PEM private key, wherever one is written in clear. */
export const PRIVATE_KEY_LABEL: Trace = { name: 'PRIVATE KEY', bytes: Buffer.from('PRIVATE KEY') }

/**
 * Byte strings any copy of `privateKey` (a PKCS#8 PEM) would contain: its DER, its raw private
 * value (the JWK `d`), and each full line of its PEM body.
 */
export function keyTraces (privateKey: string): Trace[] {
  const key = createPrivateKey(privateKey)
  const d = key.export({ format: 'jwk' }).d
  if (d === undefined) throw new Error('a private key without d')
  const lines = privateKey.split('\n').filter(line => line.length >= 16 && !line.startsWith('-----'))
  return [
    { name: 'the PKCS#8 DER', bytes: key.export({ type: 'pkcs8', format: 'der' }) },
    { name: 'the raw private value', bytes: Buffer.from(d, 'base64url') },
    ...lines.map((line, index) => ({ name: `PEM line ${index + 1}`, bytes: Buffer.from(line, 'latin1') }))
  ]
}

/** The files of the SQLite database `filename` that exist now: the database, its -wal and its -shm. */
export function databaseFiles (filename: string): string[] {
  return [filename, `${filename}-wal`, `${filename}-shm`].filter(file => fs.existsSync(file))
}

/** "<file>: <trace>" for each of `traces` found in the files of the SQLite database `filename`. */
export function findTraces (filename: string, traces: readonly Trace[]): string[] {
  return databaseFiles(filename).flatMap(file => {
    const content = fs.readFileSync(file)
    return traces.filter(trace => content.includes(trace.bytes)).map(trace => `${file}: ${trace.name}`)
  })
}
