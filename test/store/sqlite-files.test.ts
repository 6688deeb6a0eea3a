import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { openStore, type Store } from '../../store/index.js'
import { SqliteStore } from '../../store/sqlite.js'
import { generateSigningKey } from '../../tokens/keys.js'
import { findTraces, keyTraces } from '../key-traces.js'

// The SQLite files hold password hashes and private signing keys: owner-only modes whatever the
// umask, and removed keys overwritten rather than left in free space or in the write-ahead log.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-files-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

// This process's umask is the tests' to set: each file runs in a process of its own.
const umask = process.umask()
t.teardown(() => { process.umask(umask) })

const modeOf = (file: string): string => (fs.statSync(file).mode & 0o7777).toString(8)

let databases = 0
/** A path in a directory that does not exist yet. */
const newFile = (): string => path.join(tmp, `db-${++databases}`, 'deeper', 'auth.db')

/** Opens the store the way the server does, closed at teardown. */
async function open (t: Test, file: string): Promise<Store> {
  const store = await openStore(`sqlite:${file}`)
  t.teardown(() => store.close())
  return store
}

for (const mask of [0o000, 0o022, 0o277]) {
  t.test(`with umask ${mask.toString(8).padStart(4, '0')}, the directories made are 0700 and the database, -wal and -shm 0600`, async t => {
    process.umask(mask)
    t.teardown(() => { process.umask(umask) })
    const file = newFile()
    const store = await open(t, file)
    // A write, so that the log surely exists while the store is open.
    await store.addSigningKey(generateSigningKey('ES256'))
    t.equal(modeOf(path.dirname(path.dirname(file))), '700', 'the first directory made')
    t.equal(modeOf(path.dirname(file)), '700', 'the data directory')
    t.equal(modeOf(file), '600', 'the database')
    t.equal(modeOf(`${file}-wal`), '600', 'the -wal file')
    t.equal(modeOf(`${file}-shm`), '600', 'the -shm file')
  })
}

t.test('an existing directory is left as it is', async t => {
  process.umask(0)
  t.teardown(() => { process.umask(umask) })
  const directory = path.join(tmp, 'existing')
  fs.mkdirSync(directory, { mode: 0o755 })
  await open(t, path.join(directory, 'auth.db'))
  t.equal(modeOf(directory), '755')
  t.equal(modeOf(path.join(directory, 'auth.db')), '600', 'the database made in it is still 0600')
})

t.test('existing database, -wal and -shm files lose what they gave others, and keep their group\'s access', async t => {
  process.umask(0)
  t.teardown(() => { process.umask(umask) })
  const file = newFile()
  fs.mkdirSync(path.dirname(file), { recursive: true })
  // A database an older version made with a 0000 umask, still open in another process, so that its log files exist.
  const older = new Database(file)
  t.teardown(() => older.close())
  older.pragma('journal_mode = WAL')
  older.exec('CREATE TABLE t (x)')
  for (const suffix of ['', '-wal', '-shm']) fs.chmodSync(`${file}${suffix}`, 0o666)
  fs.chmodSync(`${file}-shm`, 0o664)

  await open(t, file)
  t.equal(modeOf(file), '660')
  t.equal(modeOf(`${file}-wal`), '660')
  t.equal(modeOf(`${file}-shm`), '660')
})

t.test('a removed signing key leaves nothing of itself in the database, -wal or -shm', async t => {
  const file = newFile()
  const store = await open(t, file)
  // A second connection, as a running server's would be: the log stays as long as it is open.
  const other = await open(t, file)
  const removed = generateSigningKey('ES256', 1000)
  const kept = generateSigningKey('RS256', 2000)
  await store.addSigningKey(removed)
  await store.addSigningKey(kept)
  t.ok(findTraces(file, keyTraces(removed.privateKey)).length > 0, 'the key is in the files before its removal: the scan finds it')

  await store.removeSigningKeys([removed.kid])
  t.strictSame(findTraces(file, keyTraces(removed.privateKey)), [], 'nothing while the connections are open')
  t.ok(findTraces(file, keyTraces(kept.privateKey)).length > 0, 'the key kept is still found')
  t.equal(fs.statSync(`${file}-wal`).size, 0, 'the log is emptied')
  t.strictSame((await other.listSigningKeys()).map(key => key.kid), [kept.kid], 'the other connection sees the removal')

  await other.close()
  await store.close()
  t.strictSame(findTraces(file, keyTraces(removed.privateKey)), [], 'nothing once they are closed')
})

t.test('a private key replaced by updateSigningKey leaves nothing of its old value', async t => {
  const file = newFile()
  const store = await open(t, file)
  await open(t, file)
  const keys = Array.from({ length: 6 }, (_, index) => generateSigningKey('RS256', index))
  // RSA keys take a page each: the rows move between pages as they grow.
  for (const key of keys) await store.addSigningKey(key)
  for (const key of keys) {
    t.equal(await store.updateSigningKey(key.kid, `$replaced$${'x'.repeat(2000)}`), true)
  }
  for (const key of keys) t.strictSame(findTraces(file, keyTraces(key.privateKey)), [], key.kid)
})

t.test('a reader that keeps the log busy past the busy timeout makes the removal say the old key is still there', async t => {
  const file = newFile()
  const store = new SqliteStore(file)
  t.teardown(() => store.close())
  const key = generateSigningKey('ES256')
  await store.addSigningKey(key)
  // A read transaction holds its snapshot, and the log frames it reads, until it ends.
  const reader = new Database(file)
  t.teardown(() => reader.close())
  reader.exec('BEGIN')
  reader.prepare('SELECT count(*) FROM signing_keys').get()

  await t.rejects(store.removeSigningKeys([key.kid]), {
    message: 'the change is committed, but another connection kept reading for the whole busy timeout, so the write-ahead log (-wal file) still holds the previous values until a later checkpoint'
  })
  t.strictSame(await store.listSigningKeys(), [], 'the key is removed all the same')
  reader.exec('COMMIT')
  t.equal(await store.updateSigningKey('unknown', 'x'), false)
  t.strictSame(findTraces(file, keyTraces(key.privateKey)), [], 'the next checkpoint, the reader gone, takes it out')
})
