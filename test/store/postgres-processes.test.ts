import t from 'tap'
import { postgresBackend, racingProcessTests, skipPostgres } from './fixtures.js'

// PostgresStore in several processes racing on one database (test/store/fixtures.ts); apart from
// test/store/postgres.test.ts so that tap runs the two files side by side.

t.test('PostgresStore in processes on a database', { skip: skipPostgres }, async t => {
  racingProcessTests(t, postgresBackend)
})
