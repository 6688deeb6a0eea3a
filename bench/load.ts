import autocannon from 'autocannon'
import { setTimeout as sleep } from 'node:timers/promises'

/** What one load run saw: answers by status, their latencies (ms) by status, and the rate of answers. */
export interface LoadResult {
  /** Answers of any status per second. */
  rps: number
  seconds: number
  statuses: Map<number, number>
  latencies: Map<number, number[]>
  /** Connection errors and timeouts. */
  errors: number
}

/** Percentiles of a set of latencies, in ms. */
export interface Spread {
  p50: number
  p99: number
}

export function spread (values: readonly number[]): Spread {
  const sorted = Float64Array.from(values).sort()
  const at = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN
  return { p50: at(0.5), p99: at(0.99) }
}

/** Adds `latency` to the list kept for `status`. */
function record (latencies: Map<number, number[]>, status: number, latency: number): void {
  const list = latencies.get(status)
  if (list === undefined) latencies.set(status, [latency])
  else list.push(latency)
}

/**
 * Runs autocannon and keeps every latency from its response events: its own histogram rounds to
 * whole milliseconds, too coarse for routes that answer in a fraction of one. The run ends after
 * its duration, or as soon as `signal` aborts.
 */
export function load (options: autocannon.Options, signal?: AbortSignal): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const statuses = new Map<number, number>()
    const latencies = new Map<number, number[]>()
    // autocannon checks its deadline once per sample: 100 ms keeps short runs close to their duration.
    const instance = autocannon({ sampleInt: 100, ...options }, (error: unknown, result) => {
      if (error !== null && error !== undefined) {
        reject(error instanceof Error ? error : new Error(String(error)))
        return
      }
      let answers = 0
      for (const count of statuses.values()) answers += count
      resolve({ rps: answers / result.duration, seconds: result.duration, statuses, latencies, errors: result.errors })
    })
    instance.on('response', (_client, status, _bytes, time) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      record(latencies, status, time)
    })
    signal?.addEventListener('abort', () => instance.stop(), { once: true })
  })
}

/** How many answers had a status other than those expected, as text for an error, or null when none. */
export function unexpected (result: LoadResult, expected: readonly number[]): string | null {
  const problems = [...result.statuses]
    .filter(([status]) => !expected.includes(status))
    .map(([status, count]) => `${count} × ${status}`)
  if (result.errors > 0) problems.push(`${result.errors} connection errors or timeouts`)
  return problems.length === 0 ? null : problems.join(', ')
}

/**
 * GET requests at a steady `rate`, as independent clients would send them, rather than back to back
 * on a few connections: autocannon's own rate limit sends each connection's share in a burst at the
 * start of every second. Each request leaves on its own schedule, so a slow answer delays no other
 * request (up to `inFlight` at once); latency counts from the moment the request leaves.
 */
export async function paced (
  url: string, headers: Record<string, string>, rate: number, seconds: number, inFlight: number
): Promise<LoadResult> {
  const period = 1000 / rate
  const total = Math.max(1, Math.round(rate * seconds))
  const statuses = new Map<number, number>()
  const latencies = new Map<number, number[]>()
  let errors = 0
  let next = 0
  const start = performance.now()
  async function client (): Promise<void> {
    for (let index = next++; index < total; index = next++) {
      const wait = start + index * period - performance.now()
      if (wait > 0) await sleep(wait)
      const sent = performance.now()
      try {
        const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
        await response.arrayBuffer()
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        record(latencies, response.status, performance.now() - sent)
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, client))
  const elapsed = (performance.now() - start) / 1000
  return { rps: (total - errors) / elapsed, seconds: elapsed, statuses, latencies, errors }
}

/** Several runs of one scenario as one: their answers over their summed time. */
export function merge (results: readonly LoadResult[]): LoadResult {
  const statuses = new Map<number, number>()
  const latencies = new Map<number, number[]>()
  let seconds = 0
  let errors = 0
  let answers = 0
  for (const result of results) {
    seconds += result.seconds
    errors += result.errors
    for (const [status, count] of result.statuses) {
      statuses.set(status, (statuses.get(status) ?? 0) + count)
      answers += count
    }
    for (const [status, list] of result.latencies) {
      for (const latency of list) record(latencies, status, latency)
    }
  }
  return { rps: answers / seconds, seconds, statuses, latencies, errors }
}
