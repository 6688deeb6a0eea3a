import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { SqliteWorkerStore } from '../../store/index.js'
import { newFile, sharedBackendTests, sqliteWorkerBackend, startWorkers, tmp } from './fixtures.js'
import { storeContract } from '../../testing/store-contract.js'

t.test('SqliteWorkerStore', async t => { storeContract(t, async () => await SqliteWorkerStore.open(newFile())) })

t.test('SqliteWorkerStore on a file', async t => {
  sharedBackendTests(t, sqliteWorkerBackend)

  t.test('a database that cannot be opened rejects with the reason, and leaves no thread behind', async t => {
    const file = path.join(tmp, 'a-file')
    fs.writeFileSync(file, '')
    const children = startWorkers(t, ['opener'], `
      const error = await SqliteWorkerStore.open(${JSON.stringify(path.join(file, 'auth.db'))}).then(() => null, error => error)
      process.stdout.write((error?.message ?? 'opened') + '\\n')
    `)
    const [{ child, nextLine, exited }] = children as [typeof children[number]]
    t.equal(await nextLine(), 'ready')
    // Its standard input, which startWorkers reads, would keep it alive.
    child.stdin.end()
    t.match(await nextLine(), /^EEXIST|^ENOTDIR/)
    t.equal(await exited, 0, 'the process ended by itself')
  })

  t.test('the thread keeps a process alive while a call waits for it, and no longer', async t => {
    const file = newFile()
    const children = startWorkers(t, ['caller'], `
      const store = await SqliteWorkerStore.open(${JSON.stringify(file)})
      // Nothing but the call's answer is left to wait for: the process must not end before it.
      store.createUser({ username: 'alice', scopes: [], passwordHash: 'hash' })
        .then(user => process.stdout.write(user.username + '\\n'))
    `)
    const [{ child, nextLine, exited }] = children as [typeof children[number]]
    t.equal(await nextLine(), 'ready')
    // Its standard input, which startWorkers reads, would keep it alive.
    child.stdin.end()
    t.equal(await nextLine(), 'alice')
    t.equal(await exited, 0, 'the process ended by itself, the store still open')
    const store = await SqliteWorkerStore.open(file)
    t.teardown(() => store.close())
    t.equal((await store.findUserByUsername('alice'))?.username, 'alice', 'the write was committed')
  })

  t.test('after close every call rejects, and closing again does nothing', async t => {
    const store = await SqliteWorkerStore.open(newFile())
    await store.close()
    await t.rejects(store.countUsers(), { message: 'the store is closed' })
    await t.resolves(store.close())
  })
})
