import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { migrations } from '../../store/sqlite-migrations.js'
import t from 'tap'
import { SqliteStore } from '../../store/sqlite.js'
import { checkUpgradeFromMigration1, checkUpgradeToMigration4, rowsAtMigration3, newFile, readSqliteMigrations, sharedBackendTests, sqliteBackend } from './fixtures.js'
import { storeContract } from '../../testing/store-contract.js'

t.test('SqliteStore', async t => { storeContract(t, async () => new SqliteStore(newFile())) })
// Opening a file that is migrated already must neither fail nor apply anything again.
t.test('SqliteStore, reopened', async t => {
  storeContract(t, async () => {
    const file = newFile()
    await new SqliteStore(file).close()
    return new SqliteStore(file)
  })
})

t.test('SqliteStore on a file', async t => {
  sharedBackendTests(t, sqliteBackend)

  t.test('creates the directory, uses WAL, and applies each migration once across reopenings', async t => {
    const file = newFile()
    await new SqliteStore(file).close()
    t.ok(fs.existsSync(file), 'the file and its directory exist')

    const applied = readSqliteMigrations(file)
    t.strictSame(applied.map(({ version, name }) => ({ version, name })), migrations.map(({ version, name }) => ({ version, name })))

    await new SqliteStore(file).close()
    t.strictSame(readSqliteMigrations(file), applied, 'reopening applied nothing again')

    const db = new Database(file, { fileMustExist: true })
    t.teardown(() => db.close())
    t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  })

  t.test('migration 2 upgrades a database made by migration 1 and keeps its users', async t => {
    const file = newFile()
    fs.mkdirSync(path.dirname(file), { recursive: true })
    // The database as SqliteStore left it before migration 2 existed.
    const db = new Database(file)
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT')
    db.exec(migrations[0]!.sql)
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ?, 1000)').run(migrations[0]!.name)
    db.prepare(`
      INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
      VALUES ('00000000-0000-4000-8000-000000000001', 'alice', NULL, NULL, '["read"]', 0, 'hash', 0, 1000)
    `).run()
    db.close()

    await checkUpgradeFromMigration1(t, {
      open: async () => new SqliteStore(file),
      readMigrations: async () => readSqliteMigrations(file),
      migrations
    })
  })

  t.test('migration 4 upgrades a database made by migration 3 and keeps its users and logins', async t => {
    const file = newFile()
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const db = new Database(file)
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT')
    for (const migration of migrations.slice(0, 3)) {
      db.exec(migration.sql)
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 1000)').run(migration.version, migration.name)
    }
    db.exec(rowsAtMigration3('0'))
    db.close()
    const store = new SqliteStore(file)
    t.teardown(() => store.close())
    await checkUpgradeToMigration4(t, store)
  })
})
