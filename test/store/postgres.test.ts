import pg from 'pg'
import { migrations as postgresMigrations } from '../../store/postgres-migrations.js'
import t from 'tap'
import { PostgresStore } from '../../store/postgres.js'
import { admin, checkUpgradeFromMigration1, checkUpgradeToMigration4, rowsAtMigration3, newSchema, openAtOnce, postgresUrl, readPostgresMigrations, sharedBackendTests, postgresBackend, skipPostgres, withQuery } from './fixtures.js'
import { newFamily, newToken, newUser, signingKey, WEB_TERMS } from '../../testing/fixtures.js'
import { storeContract } from '../../testing/store-contract.js'

t.test('PostgresStore', { skip: skipPostgres }, async t => {
  storeContract(t, async t => await PostgresStore.open(postgresUrl, { schema: newSchema(t) }))
})

t.test('PostgresStore on a database', { skip: skipPostgres }, async t => {
  sharedBackendTests(t, postgresBackend)

  t.test('stores opened at the same instant on a new schema apply the migrations once and agree on one key', async t => {
    for (let round = 1; round <= 5; round++) {
      const schema = newSchema(t)
      const kids = ['s1', 's2', 's3', 's4', 's5', 's6']
      const stores = await openAtOnce(t, kids.length, postgresUrl, schema)
      const results = await Promise.all(stores.map((store, index) => store.addFirstSigningKey(signingKey(kids[index]!, 1000))))

      t.equal(results[0]?.length, 1, `round ${round}: one key`)
      t.ok(kids.includes(results[0]?.[0]?.kid ?? ''), `round ${round}: the key of one of the stores`)
      t.strictSame(results, kids.map(() => results[0]), `round ${round}: every store got that key`)
      t.strictSame((await readPostgresMigrations(schema)).map(({ version }) => version), postgresMigrations.map(({ version }) => version),
        `round ${round}: each migration applied once`)
    }
  })

  t.test('keeps one key and one winner when the server\'s default isolation is SERIALIZABLE', async t => {
    // Set for these connections only, through the URL's options parameter.
    const url = withQuery(postgresUrl, `options=${encodeURIComponent('-c default_transaction_isolation=serializable')}`)
    const schema = newSchema(t)
    const stores = await openAtOnce(t, 4, url, schema)

    const keys = await Promise.all(stores.map((store, index) => store.addFirstSigningKey(signingKey(`k${index}`, 1000))))
    t.equal(keys[0]?.length, 1, 'one key')
    t.strictSame(keys, stores.map(() => keys[0]), 'every store got that key')

    const alice = await stores[0]!.createUser(newUser('alice'))
    await stores[0]!.createRefreshFamily(newFamily(alice.id, 'f1'), newToken('t1', 1000, 5000))
    const results = await Promise.all(Array.from({ length: 8 }, (_, index) =>
      stores[index % stores.length]!.rotateRefreshToken('t1', newToken(`next-${index}`, 2000, 6000), 2000, WEB_TERMS)))
    t.equal(results.filter(result => result.outcome === 'rotated').length, 1, 'one rotation')
    t.equal(results.filter(result => result.outcome === 'spent').length, 7, 'the others saw it spent')
  })

  t.test('creates a missing schema, and uses an existing one without touching what else it holds', async t => {
    const schema = newSchema(t)
    const quoted = pg.escapeIdentifier(schema)
    await admin.query(`CREATE SCHEMA ${quoted}`)
    await admin.query(`CREATE TABLE ${quoted}.other (id INTEGER)`)
    const store = await PostgresStore.open(postgresUrl, { schema })
    t.teardown(() => store.close())
    await store.createUser(newUser('alice'))
    const { rows } = await admin.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema])
    t.strictSame(rows.map(row => row.table_name), [
      'clients', 'dpop_proofs', 'one_time_codes', 'other', 'refresh_families', 'refresh_tokens', 'revoked_tokens', 'schema_migrations',
      'signing_keys', 'totp_enrollments', 'totp_recovery_codes', 'user_changes', 'users'
    ])
  })

  t.test('every pooled connection works in the store\'s schema', async t => {
    const schema = newSchema(t)
    const store = await PostgresStore.open(postgresUrl, { schema })
    t.teardown(() => store.close())
    const alice = await store.createUser(newUser('alice'))
    // More at once than one connection serves, so that the pool opens several.
    const found = await Promise.all(Array.from({ length: 20 }, () => store.findUserById(alice.id)))
    t.strictSame(found, found.map(() => alice))
  })

  t.test('migration 2 upgrades a schema made by migration 1 and keeps its users', async t => {
    const schema = newSchema(t)
    const quoted = pg.escapeIdentifier(schema)
    // The schema as PostgresStore left it before migration 2 existed.
    await admin.query(`
      BEGIN;
      CREATE SCHEMA ${quoted};
      SET LOCAL search_path TO ${quoted};
      CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
      ${postgresMigrations[0]!.sql};
      INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ${pg.escapeLiteral(postgresMigrations[0]!.name)}, 1000);
      INSERT INTO users (id, username, email, full_name, scopes, disabled, password_hash, token_version, created_at)
      VALUES ('00000000-0000-4000-8000-000000000001', 'alice', NULL, NULL, '["read"]', false, 'hash', 0, 1000);
      COMMIT;
    `)

    await checkUpgradeFromMigration1(t, {
      open: async () => await PostgresStore.open(postgresUrl, { schema }),
      readMigrations: async () => await readPostgresMigrations(schema),
      migrations: postgresMigrations
    })
  })

  t.test('migration 4 upgrades a schema made by migration 3 and keeps its users and logins', async t => {
    const schema = newSchema(t)
    const quoted = pg.escapeIdentifier(schema)
    await admin.query(`
      BEGIN;
      CREATE SCHEMA ${quoted};
      SET LOCAL search_path TO ${quoted};
      CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
      ${postgresMigrations.slice(0, 3).map(migration => `${migration.sql};
      INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${pg.escapeLiteral(migration.name)}, 1000);`).join('\n')}
      ${rowsAtMigration3('false')}
      COMMIT;
    `)
    const store = await PostgresStore.open(postgresUrl, { schema })
    t.teardown(() => store.close())
    await checkUpgradeToMigration4(t, store)
  })
})
