import { randomBytes } from 'node:crypto'
import pg from 'pg'
import t, { type Test } from 'tap'
import { PostgresStore } from '../../store/postgres.js'
import { newUser } from '../../testing/fixtures.js'
import { storeContract, type ContractTest } from '../../testing/store-contract.js'

// PostgresStore.fromPool on a pool that a host made, with pg's default type parsers and its own
// search_path: the whole store contract, then what the host must keep of its pool.

const postgresUrl = process.env.TEST_POSTGRES_URL ?? ''
const skip = postgresUrl === '' ? 'TEST_POSTGRES_URL is not set: PostgreSQL store tests skipped' : false
const admin = new pg.Pool({ connectionString: postgresUrl })
t.teardown(() => admin.end())

/** A pool as a host makes it, working in a schema of its own; the pool is ended, then the schema dropped, at teardown. */
async function hostPool (t: ContractTest): Promise<{ pool: pg.Pool, schema: string }> {
  const schema = `t_${randomBytes(8).toString('hex')}`
  await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
  t.teardown(() => admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`))
  const pool = new pg.Pool({ connectionString: postgresUrl, options: `-c search_path=${schema}` })
  t.teardown(() => pool.end())
  return { pool, schema }
}

t.test('PostgresStore.fromPool passes the store contract', { skip }, async t => {
  storeContract(t, async t => await PostgresStore.fromPool((await hostPool(t)).pool))
})

t.test('PostgresStore.fromPool leaves the host its type parsers and its pool', { skip }, async (t: Test) => {
  const { pool, schema } = await hostPool(t)
  const store = await PostgresStore.fromPool(pool)
  const alice = await store.createUser(newUser('alice'))
  t.type(alice.createdAt, 'number', 'BIGINT columns are numbers for the store')
  const { rows } = await pool.query<{ n: unknown }>('SELECT 1::bigint AS n')
  t.equal(rows[0]?.n, '1', 'and still strings, pg\'s default, for the host\'s own queries')
  const { rows: users } = await admin.query(`SELECT username FROM ${pg.escapeIdentifier(schema)}.users`)
  t.strictSame(users, [{ username: 'alice' }], 'the tables are in the pool\'s search_path')

  await store.close()
  await t.rejects(store.ping(), 'the closed store refuses work')
  await t.resolves(pool.query('SELECT 1'), 'while the host\'s pool stays open')
  t.equal(pool.totalCount - pool.idleCount, 0, 'with every connection handed back')
})
