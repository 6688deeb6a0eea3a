import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { MemoryStore, StoreUnavailableError } from '../../store/index.js'
import { RedisProofReplayGuard, StoreProofReplayGuard, firstUse, type ProofReplayGuard } from '../../tokens/dpop-replay.js'
import { PROOF_WINDOW } from '../../tokens/dpop.js'
import { unique } from '../integration/helper.js'

// Both guards behind the one interface: a proof is first once, per key, and remembered for the
// window its iat allows it, no longer.

const REDIS_URL = process.env.TEST_REDIS_URL ?? ''
const NOW = 1_750_000_000_000
const IAT = NOW / 1000

function connect (t: Test): Redis {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(() => redis.quit())
  return redis
}

async function checkGuard (t: Test, guard: ProofReplayGuard): Promise<void> {
  const proof = { jkt: unique('key-'), jti: 'jti-1', iat: IAT }
  t.equal(await firstUse(guard, proof, NOW), true, 'first use')
  t.equal(await firstUse(guard, proof, NOW + 1000), false, 'the same proof again')
  t.equal(await firstUse(guard, { ...proof, jkt: unique('key-') }, NOW), true, 'the same jti of another key is another proof')
  t.equal(await firstUse(guard, { ...proof, jti: 'jti-2' }, NOW), true, 'another jti')
  const uses = await Promise.all(Array.from({ length: 10 }, async () => await firstUse(guard, { ...proof, jti: 'jti-3' }, NOW)))
  t.equal(uses.filter(first => first).length, 1, 'of ten concurrent uses, one is first')
}

t.test('through the store', async t => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const guard = new StoreProofReplayGuard(store)
  await checkGuard(t, guard)
  const proof = { jkt: 'k', jti: 'old', iat: IAT }
  await firstUse(guard, proof, NOW)
  const end = (IAT + PROOF_WINDOW + 1) * 1000
  t.equal(await firstUse(guard, proof, end - 1), false, 'remembered while its iat is in the window')
  t.equal(await firstUse(guard, proof, end), true, 'forgotten once no check of iat would pass it')
})

t.test('through Redis', { skip: REDIS_URL === '' ? 'TEST_REDIS_URL not set' : false }, async t => {
  const redis = connect(t)
  const prefix = unique('dpop-test-')
  const guard = new RedisProofReplayGuard(redis, `${prefix}:`)
  await checkGuard(t, guard)

  // Date.now() here: Redis counts the TTL from its own clock.
  const now = Date.now()
  await firstUse(guard, { jkt: 'k', jti: 'ttl', iat: now / 1000 }, now)
  const keys = await redis.keys(`${prefix}:dpop:*`)
  t.equal(keys.length, 5, 'one key per proof, under the prefix')
  const ttls = await Promise.all(keys.map(async key => await redis.pttl(key)))
  t.ok(ttls.every(ttl => ttl > 0), 'each expires')
  t.ok(Math.max(...ttls) <= (PROOF_WINDOW + 1) * 1000, 'none outlives the window of its iat')
  await redis.del(...keys)
})

t.test('a Redis that does not answer is StoreUnavailableError (503), never a proof taken unchecked', { skip: REDIS_URL === '' ? 'TEST_REDIS_URL not set' : false }, async t => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const guard = new RedisProofReplayGuard(redis, unique('dpop-test-'))
  await redis.quit()
  await t.rejects(firstUse(guard, { jkt: 'k', jti: 'j', iat: IAT }, NOW), StoreUnavailableError)
})
