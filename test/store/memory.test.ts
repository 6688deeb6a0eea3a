import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import t from 'tap'
import { MemoryStore, SqliteWorkerStore, openStore } from '../../store/index.js'
import { PostgresStore } from '../../store/postgres.js'
import { admin, newFile, newSchema, postgresUrl, skipPostgres, tmp, withQuery } from './fixtures.js'
import { newUser } from '../../testing/fixtures.js'
import { storeContract } from '../../testing/store-contract.js'

t.test('MemoryStore', async t => { storeContract(t, async () => new MemoryStore()) })

t.test('openStore', async t => {
  t.test("'memory:' opens a MemoryStore", async t => {
    const store = await openStore('memory:')
    t.teardown(() => store.close())
    t.ok(store instanceof MemoryStore)
    await t.resolves(store.ping())
  })

  t.test("'sqlite:<path>' opens a SqliteStore on that file, in a worker thread", async t => {
    const file = newFile()
    const store = await openStore(`sqlite:${file}`)
    t.teardown(() => store.close())
    t.ok(store instanceof SqliteWorkerStore)
    t.ok(fs.existsSync(file))
  })

  t.test("'sqlite::memory:' opens an in-memory SqliteStore, in a worker thread", async t => {
    const cwd = process.cwd()
    process.chdir(tmp)
    t.teardown(() => process.chdir(cwd))
    const store = await openStore('sqlite::memory:')
    t.teardown(() => store.close())
    t.ok(store instanceof SqliteWorkerStore)
    await store.createUser(newUser('alice'))
    t.equal(await store.countUsers(), 1)
    t.notOk(fs.existsSync(path.join(tmp, ':memory:')), 'no file named :memory:')
  })

  t.test("'postgres://…?schema=<name>' and 'postgresql://…' open a PostgresStore in that schema", { skip: skipPostgres }, async t => {
    for (const url of [postgresUrl, postgresUrl.replace(/^postgres(ql)?:/, 'postgresql:')]) {
      const schema = newSchema(t)
      const store = await openStore(withQuery(url, `schema=${encodeURIComponent(schema)}`))
      t.teardown(() => store.close())
      t.ok(store instanceof PostgresStore, `${url.split(':')[0]}: a PostgresStore`)
      await store.createUser(newUser('alice'))
      const { rows } = await admin.query(`SELECT username FROM ${pg.escapeIdentifier(schema)}.users`)
      t.strictSame(rows, [{ username: 'alice' }], `${url.split(':')[0]}: written in the schema`)
    }
  })

  t.test('a PostgreSQL URL that fails never shows its password', async t => {
    // Port 1 on the loopback refuses at once, so that this needs no server.
    for (const url of ['postgres://u:secret@127.0.0.1:1/db', 'postgresql://u:secret@127.0.0.1:1/db?schema=s&sslmode=disable']) {
      const err = await openStore(url).then(() => null, (err: Error) => err)
      t.ok(err instanceof Error, `${url.split(':')[0]} rejects`)
      t.notMatch(err?.message, 'secret')
      t.notMatch(err?.stack, 'secret')
    }
    const err = await openStore('postgres://u:secret@h/db?schema=').then(() => null, (err: Error) => err)
    t.match(err?.message, "empty 'schema' parameter")
    t.notMatch(err?.message, 'secret')
  })

  t.test('rejects other forms, naming the scheme and never the password', async t => {
    const cases: Array<[url: string, scheme: string]> = [
      ['mysql://u:secret@h/db', "'mysql:'"],
      ['postgres:u:secret@h/db', "'postgres:'"],
      ['memory:secret', "'memory:'"]
    ]
    for (const [url, scheme] of cases) {
      const err = await openStore(url).then(() => null, (err: Error) => err)
      t.ok(err instanceof Error, `${scheme} rejects`)
      t.match(err?.message, `scheme ${scheme}`)
      t.match(err?.message, 'sqlite:<path>', 'lists the supported forms')
      t.match(err?.message, 'postgres://', 'lists PostgreSQL among them')
      t.notMatch(err?.message, 'secret')
    }
    await t.rejects(openStore('./secret.db'), { message: /without a scheme/ })
    await t.rejects(openStore('sqlite:'), { message: /names no file/ })
  })
})
