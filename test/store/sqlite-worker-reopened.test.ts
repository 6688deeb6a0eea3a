import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { SqliteWorkerStore } from '../../store/index.js'
import { storeContract } from '../../testing/store-contract.js'
import { newFile } from './fixtures.js'

// The store contract on a file that is migrated already: opening it must neither fail nor apply
// anything again. Apart from test/store/sqlite-worker.test.ts so that tap runs the two side by side.

t.test('SqliteWorkerStore, reopened', async t => {
  // One file made and migrated by a store that then closed, copied for each test: a worker thread
  // per test rather than two.
  const migrated = newFile()
  await (await SqliteWorkerStore.open(migrated)).close()
  storeContract(t, async () => {
    const file = newFile()
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.copyFileSync(migrated, file)
    return await SqliteWorkerStore.open(file)
  })
})
