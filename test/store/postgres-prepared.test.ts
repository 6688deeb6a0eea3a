import { randomBytes } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { PostgresStore } from '../../store/postgres.js'
import { newUser } from '../../testing/fixtures.js'

// The request path's statements are prepared once per connection. What that must not cost: an
// instance whose connections prepared them keeps working when a newer version adds a column to the
// tables they read, as a rolling upgrade does while older instances still serve.

const postgresUrl = process.env.TEST_POSTGRES_URL ?? ''
const skip = postgresUrl === '' ? 'TEST_POSTGRES_URL is not set: PostgreSQL store tests skipped' : false
const admin = new pg.Pool({ connectionString: postgresUrl })
t.teardown(() => admin.end())

const NOW = 1_800_000_000_000

for (const how of ['its own pool', 'a host\'s pool'] as const) {
  t.test(`on ${how}, prepared statements survive a column added to their tables`, { skip }, async t => {
    const schema = `t_${randomBytes(8).toString('hex')}`
    await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
    t.teardown(() => admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`))
    let store: PostgresStore
    if (how === 'its own pool') {
      store = await PostgresStore.open(postgresUrl, { schema })
    } else {
      // One connection, so that every statement runs on the connection that prepared it.
      const pool = new pg.Pool({ connectionString: postgresUrl, options: `-c search_path=${schema}`, max: 1 })
      t.teardown(() => pool.end())
      store = await PostgresStore.fromPool(pool)
    }
    t.teardown(() => store.close())

    const alice = await store.createUser(newUser('alice'))
    await store.createClient({ id: 'app', secretHash: null, scopes: ['me'], createdAt: NOW })
    await store.createRefreshFamily(
      { id: 'family', userId: alice.id, clientId: 'app', scopes: ['me'], tokenVersion: alice.tokenVersion, createdAt: NOW, expiresAt: NOW + 3_600_000, jkt: null },
      { hash: 'first', createdAt: NOW, expiresAt: NOW + 3_600_000 }
    )
    const read = async (): Promise<unknown[]> => [
      await store.findUserById(alice.id),
      await store.findUserByUsername('alice'),
      await store.findClient('app'),
      await store.findRefreshToken('first'),
      await store.revocationsSince(0)
    ]
    const before = await read()
    // As another version's migration would, while this instance's connections hold the statements.
    for (const table of ['users', 'clients', 'refresh_families', 'refresh_tokens', 'revoked_tokens', 'user_changes']) {
      await admin.query(`ALTER TABLE ${pg.escapeIdentifier(schema)}.${table} ADD COLUMN added_later text`)
    }
    t.strictSame(await read(), before, 'every read answers as before')
    const rotated = await store.rotateRefreshToken('first', { hash: 'second', createdAt: NOW + 1, expiresAt: NOW + 3_600_000 }, NOW + 1, { clientId: 'app', jkt: null, scopes: [] })
    t.equal(rotated.outcome, 'rotated', 'and a refresh token still rotates')
    t.equal((await store.rotateRefreshToken('first', { hash: 'third', createdAt: NOW + 2, expiresAt: NOW + 3_600_000 }, NOW + 2, { clientId: 'app', jkt: null, scopes: [] })).outcome, 'spent')
  })
}
