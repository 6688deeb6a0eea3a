import t from 'tap'
import { SqliteWorkerStore } from '../../store/index.js'
import { storeContract } from '../../testing/store-contract.js'
import { newFile } from './fixtures.js'

// The store contract on a file that is migrated already: opening it must neither fail nor apply
// anything again. Apart from test/store/sqlite-worker.test.ts so that tap runs the two side by side.

t.test('SqliteWorkerStore, reopened', async t => {
  storeContract(t, async () => {
    const file = newFile()
    await (await SqliteWorkerStore.open(file)).close()
    return await SqliteWorkerStore.open(file)
  })
})
