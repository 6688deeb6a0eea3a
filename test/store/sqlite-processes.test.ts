import t from 'tap'
import { racingProcessTests, sqliteBackend } from './fixtures.js'

// SqliteStore in several processes racing on one database (test/store/fixtures.ts); apart from
// test/store/sqlite.test.ts so that tap runs the two files side by side.

t.test('SqliteStore in processes on a file', async t => {
  racingProcessTests(t, sqliteBackend)
})
