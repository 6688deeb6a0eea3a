import fs from 'node:fs'
import path from 'node:path'

// The SQLite database holds password hashes and private signing keys: nobody but its owner should
// read it. SQLite creates a database file with 0644 less the umask, and gives its -wal and -shm files
// the database file's mode (chmod-ing them whatever the umask), so a database file created here 0600
// makes all three 0600.

const OWNER_ONLY_FILE = 0o600
const OWNER_ONLY_DIRECTORY = 0o700
/** The permission bits of users neither the owner nor in the file's group. */
const OTHERS = 0o007

/**
 * Readies the files of the database at `filename` before SQLite opens it. Creates the missing
 * directories 0700 and a missing database file 0600, whatever the umask. An existing directory is
 * left as it is; existing database, -wal and -shm files lose whatever access they give to others.
 * Their group access stays: a deployment may grant it on purpose (to let an administrators' group
 * run the command line on the file), and taking it away at every start would undo that grant.
 */
export function protectDatabaseFiles (filename: string): void {
  const directory = path.resolve(path.dirname(filename))
  const first = fs.mkdirSync(directory, { recursive: true, mode: OWNER_ONLY_DIRECTORY })
  // mkdir applies the umask, which could take away the owner's own bits: each directory made here gets its mode outright.
  if (first !== undefined) {
    for (let made = directory; made.startsWith(first); made = path.dirname(made)) fs.chmodSync(made, OWNER_ONLY_DIRECTORY)
  }
  try {
    // Exclusive: of two processes creating the file at once, one creates it and the other finds it.
    const fd = fs.openSync(filename, 'wx', OWNER_ONLY_FILE)
    try {
      fs.fchmodSync(fd, OWNER_ONLY_FILE)
    } finally {
      fs.closeSync(fd)
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    withdrawFromOthers(filename)
  }
  withdrawFromOthers(`${filename}-wal`)
  withdrawFromOthers(`${filename}-shm`)
}

function withdrawFromOthers (file: string): void {
  try {
    const { mode } = fs.statSync(file)
    if ((mode & OTHERS) !== 0) fs.chmodSync(file, mode & 0o7777 & ~OTHERS)
  } catch (error) {
    // No such file (no -wal while no connection is open), or not ours to change (a group member's
    // process): either way there is nothing this process can tighten.
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'EPERM') throw error
  }
}
