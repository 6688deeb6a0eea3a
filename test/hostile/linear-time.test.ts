import t from 'tap'
import { performance } from 'node:perf_hooks'
import { clientCredentials } from '../../clients/authentication.js'
import { authorizationHeader, bearerToken } from '../../tokens/bearer.js'
import { build, addUser } from '../helper.js'

// Every parser of request input runs in time linear in its input: an Authorization header of
// Node's maximum size (16 KiB for all headers) is answered in under 10 ms. The worst inputs are the
// ones that make a backtracking pattern try every split of a run of spaces or characters.

const SIZE = 16_000
const LIMIT_MS = 10
const ROUNDS = 15

const WORST: Record<string, string> = {
  'Basic, a run of spaces, then a character no pattern accepts': `Basic${' '.repeat(SIZE)}!`,
  'Basic, base64 characters, spaces, then a stray character': `Basic ${'A'.repeat(SIZE / 2)}${' '.repeat(SIZE / 2)}!`,
  'Basic, a run of padding characters': `Basic ${'='.repeat(SIZE)}`,
  'Basic, base64 then a stray character': `Basic ${'A'.repeat(SIZE)}!`,
  'Bearer, a run of spaces, then a stray character': `Bearer${' '.repeat(SIZE)}!`,
  'Bearer, token characters then padding then a stray one': `Bearer ${'a'.repeat(SIZE / 2)}${'='.repeat(SIZE / 2)}!`,
  'only spaces and one character': `${' '.repeat(SIZE)}x`,
  'DPoP, a run of spaces, then a stray character': `DPoP${' '.repeat(SIZE)}!`,
  'spaces, then DPoP and a token': `${' '.repeat(SIZE)}DPoP x`
}

/** DPoP proofs (RFC 9449) that make a parser work hardest: as long as a header can be, or just under the proof limit. */
const WORST_PROOFS: Record<string, string> = {
  'base64url characters': 'a'.repeat(SIZE),
  dots: '.'.repeat(SIZE),
  'a header of nested JSON arrays, just under 8 KB': `${Buffer.from(`{"typ":"dpop+jwt","alg":"ES256","jwk":${'['.repeat(5900)}`).toString('base64url')}.e30.AA`,
  'a header of one long JSON string, just under 8 KB': `${Buffer.from(`{"typ":"dpop+jwt","alg":"${'\\u0041'.repeat(980)}"}`).toString('base64url')}.e30.AA`
}

/** The median of `rounds` timings of `work`, in milliseconds. */
async function median (rounds: number, work: () => unknown): Promise<number> {
  const times: number[] = []
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    await work()
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] ?? Infinity
}

t.test('the header parsers, called directly, take under a millisecond on the worst headers', async t => {
  for (const [name, header] of Object.entries(WORST)) {
    const parse = (): void => {
      try { clientCredentials(header, {}) } catch {}
      try { bearerToken(authorizationHeader(['Authorization', header])) } catch {}
    }
    const ms = await median(ROUNDS, parse)
    t.ok(ms < 1, `${name}: ${ms.toFixed(3)} ms`)
  }
})

t.test('every endpoint answers the worst headers of 16 KB in under 10 ms', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const requests = [
    { method: 'POST' as const, url: '/token', payload: 'grant_type=password&username=johndoe&password=x', headers: form },
    { method: 'POST' as const, url: '/revoke', payload: 'token=x', headers: form },
    { method: 'POST' as const, url: '/introspect', payload: 'token=x', headers: form },
    { method: 'GET' as const, url: '/users/me', headers: {} }
  ]
  for (const [name, header] of Object.entries(WORST)) {
    for (const request of requests) {
      let status = 0
      const ms = await median(ROUNDS, async () => {
        const response = await app.inject({ ...request, headers: { ...request.headers, authorization: header } })
        status = response.statusCode
      })
      t.ok(status < 500, `${request.url}, ${name}: answered ${status}`)
      t.ok(ms < LIMIT_MS, `${request.url}, ${name}: ${ms.toFixed(2)} ms`)
    }
  }
})

t.test('the token endpoint answers the worst DPoP proofs of 16 KB in under 10 ms', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  for (const [name, proof] of Object.entries(WORST_PROOFS)) {
    let status = 0
    const ms = await median(ROUNDS, async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/token',
        payload: 'grant_type=password&username=johndoe&password=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof }
      })
      status = response.statusCode
    })
    t.equal(status, 400, `${name}: refused`)
    t.ok(ms < LIMIT_MS, `${name}: ${ms.toFixed(2)} ms`)
  }
})
