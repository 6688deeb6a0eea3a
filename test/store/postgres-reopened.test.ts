import t from 'tap'
import { PostgresStore } from '../../store/postgres.js'
import { storeContract } from '../../testing/store-contract.js'
import { newSchema, postgresUrl, skipPostgres } from './fixtures.js'

// The store contract on a schema that is migrated already, as for SQLite. Apart from
// test/store/postgres.test.ts so that tap runs the two side by side.

t.test('PostgresStore, reopened', { skip: skipPostgres }, async t => {
  storeContract(t, async t => {
    const schema = newSchema(t)
    await (await PostgresStore.open(postgresUrl, { schema })).close()
    return await PostgresStore.open(postgresUrl, { schema })
  })
})
