import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { MemoryCounter, type Counter } from '../../limits/counter.js'
import { RedisCounter } from '../../limits/redis.js'
import { DEFAULT_LOGIN_LIMITS, LoginLimiter, type LoginLimits } from '../../limits/login.js'

const redisUrl = process.env.TEST_REDIS_URL
const REDIS_SKIP = 'TEST_REDIS_URL is not set: Redis-backed limit tests skipped'

/** Small limits, so that a test reaches each of them in a few calls. */
const SMALL: LoginLimits = { pair: 3, address: 5, username: 5, window: 60, trust: 3600 }

/** Deletes every key under `prefix`: the trusted-address keys would otherwise live for `trust` seconds. */
async function deleteKeys (url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    await redis.quit()
  }
}

interface Backend {
  name: string
  skip: string | false
  /** A counter of its own for one test, closed (and for Redis emptied) in the test's teardown. */
  open: (t: Test) => Promise<Counter>
}

const backends: Backend[] = [
  {
    name: 'MemoryCounter',
    skip: false,
    open: async t => {
      const counter = new MemoryCounter()
      t.teardown(() => counter.close())
      return counter
    }
  },
  {
    name: 'RedisCounter',
    skip: redisUrl === undefined ? REDIS_SKIP : false,
    open: async t => {
      const url = redisUrl ?? ''
      // A prefix of its own per test: runs in parallel or one after another never share a count.
      const prefix = `oauth2-password-test:${randomUUID()}:`
      const counter = await RedisCounter.connect(url, () => {}, { prefix })
      t.teardown(async () => {
        await counter.close()
        await deleteKeys(url, prefix)
      })
      return counter
    }
  }
]

/** Asserts that the attempt is refused, with a wait in whole seconds within the window; a refused attempt counts nothing. */
async function assertBlocked (t: Test, limiter: LoginLimiter, username: string, address: string, window: number): Promise<void> {
  const retryAfter = await limiter.attempt(username, address)
  t.ok(retryAfter !== null, `${username} from ${address} is blocked`)
  t.ok(Number.isInteger(retryAfter), `retryAfter ${retryAfter} is an integer`)
  t.ok(retryAfter !== null && retryAfter > 0 && retryAfter <= window, `retryAfter ${retryAfter} is in 1..${window}`)
}

/** Asserts that an attempt may go ahead, then takes it back, so that the counts are as they were. */
async function assertAllowed (t: Test, limiter: LoginLimiter, username: string, address: string): Promise<void> {
  t.equal(await limiter.attempt(username, address), null, `${username} from ${address} is allowed`)
  await limiter.abandoned(username, address)
}

/** A wrong password: the attempt goes ahead and stays counted. */
async function fail (t: Test, limiter: LoginLimiter, username: string, address: string): Promise<void> {
  t.equal(await limiter.attempt(username, address), null, `a failure of ${username} from ${address} is counted`)
}

/** A right password: the attempt goes ahead and then succeeds. */
async function succeed (t: Test, limiter: LoginLimiter, username: string, address: string): Promise<void> {
  t.equal(await limiter.attempt(username, address), null, `${username} from ${address} may log in`)
  await limiter.succeeded(username, address)
}

interface Case {
  name: string
  limits: LoginLimits
  run: (t: Test, limiter: LoginLimiter, limits: LoginLimits) => Promise<void>
}

const cases: Case[] = [
  {
    name: 'ten failures for one username from one address block that pair, within the window',
    limits: DEFAULT_LOGIN_LIMITS,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= 10; attempt++) {
        await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
        await fail(t, limiter, 'johndoe', '192.0.2.1')
      }
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'after ten failures from one address, the same username from another address is allowed',
    limits: DEFAULT_LOGIN_LIMITS,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= 10; attempt++) await fail(t, limiter, 'johndoe', '192.0.2.1')
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.2')
      await assertAllowed(t, limiter, 'alice', '192.0.2.1')
    }
  },
  {
    name: 'a success resets the pair: 9 failures, a success, 9 failures are not blocked; the 10th is',
    limits: DEFAULT_LOGIN_LIMITS,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= 9; attempt++) await fail(t, limiter, 'johndoe', '192.0.2.1')
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
      await succeed(t, limiter, 'johndoe', '192.0.2.1')
      for (let attempt = 1; attempt <= 9; attempt++) await fail(t, limiter, 'johndoe', '192.0.2.1')
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
      await fail(t, limiter, 'johndoe', '192.0.2.1')
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'per address: failures across many usernames block the address for every username',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let user = 0; user < limits.address; user++) {
        await assertAllowed(t, limiter, `user${user}`, '192.0.2.1')
        await fail(t, limiter, `user${user}`, '192.0.2.1')
      }
      await assertBlocked(t, limiter, 'someone-else', '192.0.2.1', limits.window)
      await assertBlocked(t, limiter, 'user0', '192.0.2.1', limits.window)
      await assertAllowed(t, limiter, 'user0', '192.0.2.2')
    }
  },
  {
    name: 'per address: a success neither counts nor resets the address count',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let user = 1; user < limits.address; user++) await fail(t, limiter, `user${user}`, '192.0.2.1')
      await succeed(t, limiter, 'user0', '192.0.2.1')
      await fail(t, limiter, 'user0', '192.0.2.1')
      await assertBlocked(t, limiter, 'user0', '192.0.2.1', limits.window)
      await assertBlocked(t, limiter, 'user1', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'an attempt taken back (never checked) counts nothing',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= limits.pair * 3; attempt++) await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
      for (let attempt = 1; attempt <= limits.pair; attempt++) await fail(t, limiter, 'johndoe', '192.0.2.1')
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'concurrent attempts cannot outrun a limit: of 60 at once, exactly the limit go ahead',
    limits: DEFAULT_LOGIN_LIMITS,
    run: async (t, limiter, limits) => {
      const answers = await Promise.all(Array.from({ length: 60 }, async () => await limiter.attempt('johndoe', '192.0.2.1')))
      t.equal(answers.filter(answer => answer === null).length, limits.pair, 'as many went ahead as the pair limit')
      const perAddress = await Promise.all(Array.from({ length: 150 }, async (_, index) => await limiter.attempt(`user${index}`, '192.0.2.9')))
      t.equal(perAddress.filter(answer => answer === null).length, limits.address, 'as many went ahead as the address limit')
    }
  },
  {
    name: 'failed client authentications count against the address; a success is taken back',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= limits.address * 2; attempt++) {
        t.equal(await limiter.clientAttempt('192.0.2.1'), null)
        await limiter.clientSucceeded('192.0.2.1')
      }
      for (let attempt = 1; attempt < limits.address; attempt++) t.equal(await limiter.clientAttempt('192.0.2.1'), null)
      await fail(t, limiter, 'johndoe', '192.0.2.1')
      const retryAfter = await limiter.clientAttempt('192.0.2.1')
      t.ok(retryAfter !== null && retryAfter > 0 && retryAfter <= limits.window, 'client authentication blocked')
      await assertBlocked(t, limiter, 'alice', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'per username: failures across many addresses block the username from a new address',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let address = 1; address <= limits.username; address++) {
        await assertAllowed(t, limiter, 'johndoe', `192.0.2.${address}`)
        await fail(t, limiter, 'johndoe', `192.0.2.${address}`)
      }
      await assertBlocked(t, limiter, 'johndoe', '198.51.100.1', limits.window)
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
      await assertAllowed(t, limiter, 'alice', '198.51.100.1')
      await assertAllowed(t, limiter, 'alice', '192.0.2.1')
    }
  },
  {
    name: 'a known address is exempt from the per-username limit, not from its own pair limit',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      await succeed(t, limiter, 'johndoe', '203.0.113.7')
      for (let address = 1; address <= limits.username; address++) await fail(t, limiter, 'johndoe', `192.0.2.${address}`)
      await assertBlocked(t, limiter, 'johndoe', '198.51.100.1', limits.window)
      await assertAllowed(t, limiter, 'johndoe', '203.0.113.7')
      // The known address is the user's: trust is per username, not for every account from there.
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)

      for (let attempt = 1; attempt < limits.pair; attempt++) await fail(t, limiter, 'johndoe', '203.0.113.7')
      await assertAllowed(t, limiter, 'johndoe', '203.0.113.7')
      await fail(t, limiter, 'johndoe', '203.0.113.7')
      await assertBlocked(t, limiter, 'johndoe', '203.0.113.7', limits.window)
    }
  },
  {
    name: 'an address known for one user is not known for another',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      await succeed(t, limiter, 'johndoe', '203.0.113.7')
      for (let address = 1; address <= limits.username; address++) await fail(t, limiter, 'alice', `192.0.2.${address}`)
      await assertBlocked(t, limiter, 'alice', '203.0.113.7', limits.window)
    }
  },
  {
    name: 'a window expires, and it runs from the first failure: later failures do not extend it',
    limits: { ...SMALL, window: 1 },
    run: async (t, limiter, limits) => {
      await fail(t, limiter, 'johndoe', '192.0.2.1')
      await sleep(600)
      for (let attempt = 2; attempt <= limits.pair; attempt++) await fail(t, limiter, 'johndoe', '192.0.2.1')
      t.equal(await limiter.attempt('johndoe', '192.0.2.1'), 1, 'blocked for at most the rest of the window')
      await sleep(550)
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
    }
  },
  {
    name: 'every window expires: pair, address and username',
    limits: { ...SMALL, window: 1 },
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= limits.pair; attempt++) await fail(t, limiter, 'johndoe', '192.0.2.1')
      for (let user = 0; user < limits.address; user++) await fail(t, limiter, `user${user}`, '192.0.2.2')
      for (let address = 1; address <= limits.username; address++) await fail(t, limiter, 'alice', `198.51.100.${address}`)
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
      await assertBlocked(t, limiter, 'nobody', '192.0.2.2', limits.window)
      await assertBlocked(t, limiter, 'alice', '203.0.113.1', limits.window)
      await sleep(1100)
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
      await assertAllowed(t, limiter, 'nobody', '192.0.2.2')
      await assertAllowed(t, limiter, 'alice', '203.0.113.1')
    }
  }
]

for (const backend of backends) {
  t.test(`LoginLimiter over ${backend.name}`, { skip: backend.skip }, async t => {
    for (const { name, limits, run } of cases) {
      t.test(name, async t => {
        const counter = await backend.open(t)
        const limiter = new LoginLimiter(counter, counter, limits)
        await run(t, limiter, limits)
      })
    }
  })
}

t.test('MemoryCounter stays bounded', async t => {
  t.test('past maxKeys the oldest window is dropped', async t => {
    const counter = new MemoryCounter(3)
    t.teardown(() => counter.close())
    for (const key of ['a', 'b', 'c', 'd', 'e']) await counter.increment([key], 60_000)
    const counts = await counter.get(['a', 'b', 'c', 'd', 'e'])
    t.same(counts.map(count => count.count), [0, 0, 1, 1, 1])
  })

  t.test('ended windows at the front go first, then the oldest live one', async t => {
    const counter = new MemoryCounter(3)
    t.teardown(() => counter.close())
    await counter.increment(['a', 'b'], 1)
    await counter.increment(['c'], 60_000)
    await sleep(10)
    await counter.increment(['d', 'e'], 60_000)
    t.same((await counter.get(['a', 'b', 'c', 'd', 'e'])).map(count => count.count), [0, 0, 1, 1, 1])
    await counter.increment(['f'], 60_000)
    t.same((await counter.get(['c', 'd', 'e', 'f'])).map(count => count.count), [0, 1, 1, 1])
  })

  t.test('a full counter of 100,000 takes new keys without scanning: 10,000 inserts take far less than a second', async t => {
    const counter = new MemoryCounter(100_000)
    t.teardown(() => counter.close())
    for (let index = 0; index < 100_000; index++) await counter.increment([`old${index}`], 60_000)
    const start = performance.now()
    for (let index = 0; index < 10_000; index++) await counter.increment([`new${index}`], 60_000)
    const ms = performance.now() - start
    // Scanning every entry per insert took about 7 ms each (70 s here); constant time takes milliseconds.
    t.ok(ms < 1000, `10,000 inserts into a full counter took ${ms.toFixed(0)} ms`)
    t.same((await counter.get(['old9999', 'old10000', 'new9999'])).map(count => count.count), [0, 1, 1])
  })

  t.test('a flood of failures cannot push out the addresses users are known at', async t => {
    const failures = new MemoryCounter(50)
    const trust = new MemoryCounter(50)
    t.teardown(async () => { await failures.close(); await trust.close() })
    const limiter = new LoginLimiter(failures, trust, SMALL)
    await succeed(t, limiter, 'johndoe', '203.0.113.7')
    for (let index = 0; index < 1000; index++) await fail(t, limiter, `user${index}`, `10.0.${index >> 8}.${index & 255}`)
    for (let address = 1; address <= SMALL.username; address++) await fail(t, limiter, 'johndoe', `192.0.2.${address}`)
    await assertBlocked(t, limiter, 'johndoe', '198.51.100.1', SMALL.window)
    await assertAllowed(t, limiter, 'johndoe', '203.0.113.7')
  })

  t.test('a flood of made-up usernames from made-up addresses does not throw, and recent counts hold', async t => {
    const counter = new MemoryCounter(50)
    t.teardown(() => counter.close())
    const limiter = new LoginLimiter(counter, counter, SMALL)
    for (let index = 0; index < 1000; index++) await fail(t, limiter, `user${index}`, `10.0.${index >> 8}.${index & 255}`)
    // Three keys per failure: the last ones are still there.
    for (let attempt = 1; attempt <= SMALL.pair; attempt++) await fail(t, limiter, 'johndoe', '192.0.2.1')
    await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', SMALL.window)
    t.same((await counter.get(['login:addr:10.0.0.0'])).map(count => count.count), [0], 'the oldest keys are gone')
  })
})
