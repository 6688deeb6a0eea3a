import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
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

/** Asserts that the attempt is refused, with a wait in whole seconds within the window. */
async function assertBlocked (t: Test, limiter: LoginLimiter, username: string, address: string, window: number): Promise<void> {
  const retryAfter = await limiter.retryAfter(username, address)
  t.ok(retryAfter !== null, `${username} from ${address} is blocked`)
  t.ok(Number.isInteger(retryAfter), `retryAfter ${retryAfter} is an integer`)
  t.ok(retryAfter !== null && retryAfter > 0 && retryAfter <= window, `retryAfter ${retryAfter} is in 1..${window}`)
}

async function assertAllowed (t: Test, limiter: LoginLimiter, username: string, address: string): Promise<void> {
  t.equal(await limiter.retryAfter(username, address), null, `${username} from ${address} is allowed`)
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
        await limiter.failed('johndoe', '192.0.2.1')
      }
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'after ten failures from one address, the same username from another address is allowed',
    limits: DEFAULT_LOGIN_LIMITS,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= 10; attempt++) await limiter.failed('johndoe', '192.0.2.1')
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.2')
      await assertAllowed(t, limiter, 'alice', '192.0.2.1')
    }
  },
  {
    name: 'a success resets the pair: 9 failures, a success, 9 failures are not blocked; the 10th is',
    limits: DEFAULT_LOGIN_LIMITS,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= 9; attempt++) await limiter.failed('johndoe', '192.0.2.1')
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
      await limiter.succeeded('johndoe', '192.0.2.1')
      for (let attempt = 1; attempt <= 9; attempt++) await limiter.failed('johndoe', '192.0.2.1')
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
      await limiter.failed('johndoe', '192.0.2.1')
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'a success also lifts a block of the pair',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= limits.pair; attempt++) await limiter.failed('johndoe', '192.0.2.1')
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)
      await limiter.succeeded('johndoe', '192.0.2.1')
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
    }
  },
  {
    name: 'per address: failures across many usernames block the address for every username',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let user = 0; user < limits.address; user++) {
        await assertAllowed(t, limiter, `user${user}`, '192.0.2.1')
        await limiter.failed(`user${user}`, '192.0.2.1')
      }
      await assertBlocked(t, limiter, 'someone-else', '192.0.2.1', limits.window)
      await assertBlocked(t, limiter, 'user0', '192.0.2.1', limits.window)
      await assertAllowed(t, limiter, 'user0', '192.0.2.2')
    }
  },
  {
    name: 'per address: a success for one username does not reset the address count',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let user = 0; user < limits.address; user++) await limiter.failed(`user${user}`, '192.0.2.1')
      await limiter.succeeded('user0', '192.0.2.1')
      await assertBlocked(t, limiter, 'user0', '192.0.2.1', limits.window)
      await assertBlocked(t, limiter, 'user1', '192.0.2.1', limits.window)
    }
  },
  {
    name: 'per username: failures across many addresses block the username from a new address',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      for (let address = 1; address <= limits.username; address++) {
        await assertAllowed(t, limiter, 'johndoe', `192.0.2.${address}`)
        await limiter.failed('johndoe', `192.0.2.${address}`)
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
      await limiter.succeeded('johndoe', '203.0.113.7')
      for (let address = 1; address <= limits.username; address++) await limiter.failed('johndoe', `192.0.2.${address}`)
      await assertBlocked(t, limiter, 'johndoe', '198.51.100.1', limits.window)
      await assertAllowed(t, limiter, 'johndoe', '203.0.113.7')
      // The known address is the user's: trust is per username, not for every account from there.
      await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', limits.window)

      for (let attempt = 1; attempt < limits.pair; attempt++) await limiter.failed('johndoe', '203.0.113.7')
      await assertAllowed(t, limiter, 'johndoe', '203.0.113.7')
      await limiter.failed('johndoe', '203.0.113.7')
      await assertBlocked(t, limiter, 'johndoe', '203.0.113.7', limits.window)
    }
  },
  {
    name: 'an address known for one user is not known for another',
    limits: SMALL,
    run: async (t, limiter, limits) => {
      await limiter.succeeded('johndoe', '203.0.113.7')
      for (let address = 1; address <= limits.username; address++) await limiter.failed('alice', `192.0.2.${address}`)
      await assertBlocked(t, limiter, 'alice', '203.0.113.7', limits.window)
    }
  },
  {
    name: 'a window expires, and it runs from the first failure: later failures do not extend it',
    limits: { ...SMALL, window: 1 },
    run: async (t, limiter, limits) => {
      await limiter.failed('johndoe', '192.0.2.1')
      await sleep(600)
      for (let attempt = 2; attempt <= limits.pair; attempt++) await limiter.failed('johndoe', '192.0.2.1')
      t.equal(await limiter.retryAfter('johndoe', '192.0.2.1'), 1, 'blocked for at most the rest of the window')
      await sleep(550)
      await assertAllowed(t, limiter, 'johndoe', '192.0.2.1')
    }
  },
  {
    name: 'every window expires: pair, address and username',
    limits: { ...SMALL, window: 1 },
    run: async (t, limiter, limits) => {
      for (let attempt = 1; attempt <= limits.pair; attempt++) await limiter.failed('johndoe', '192.0.2.1')
      for (let user = 0; user < limits.address; user++) await limiter.failed(`user${user}`, '192.0.2.2')
      for (let address = 1; address <= limits.username; address++) await limiter.failed('alice', `198.51.100.${address}`)
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
        const limiter = new LoginLimiter(await backend.open(t), limits)
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

  t.test('an expired window goes before the oldest live one', async t => {
    const counter = new MemoryCounter(3)
    t.teardown(() => counter.close())
    await counter.increment(['live'], 60_000)
    await counter.increment(['short'], 1)
    await counter.increment(['other'], 60_000)
    await sleep(10)
    await counter.increment(['new'], 60_000)
    const counts = await counter.get(['live', 'short', 'other', 'new'])
    t.same(counts.map(count => count.count), [1, 0, 1, 1])
  })

  t.test('a flood of made-up usernames from made-up addresses does not throw, and recent counts hold', async t => {
    const counter = new MemoryCounter(50)
    t.teardown(() => counter.close())
    const limiter = new LoginLimiter(counter, SMALL)
    for (let index = 0; index < 1000; index++) await limiter.failed(`user${index}`, `10.0.${index >> 8}.${index & 255}`)
    // Three keys per failure: the last ones are still there.
    for (let attempt = 1; attempt <= SMALL.pair; attempt++) await limiter.failed('johndoe', '192.0.2.1')
    await assertBlocked(t, limiter, 'johndoe', '192.0.2.1', SMALL.window)
    t.same((await counter.get(['login:addr:10.0.0.0'])).map(count => count.count), [0], 'the oldest keys are gone')
  })
})
