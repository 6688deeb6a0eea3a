import t from 'tap'
import { racingProcessTests, sqliteWorkerBackend } from './fixtures.js'

// SqliteWorkerStore in several processes racing on one database (test/store/fixtures.ts); apart from
// test/store/sqlite-worker.test.ts so that tap runs the two files side by side.

t.test('SqliteWorkerStore in processes on a file', async t => {
  racingProcessTests(t, sqliteWorkerBackend)
})
