import { executionAsyncResource } from 'node:async_hooks'

// Node 20 queues each `process.nextTick` callback in an object literal with computed keys,
// `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`. V8 remembers the hidden
// class on which each key was first defined, and once it sees a second one it gives up and defines
// the key through its runtime on every call. A second class appears whenever a garbage collection
// runs while no queued tick is alive: the classes die with their last object, and the next tick
// builds new ones. Whether that happens before the server takes its first request is chance (it
// did in most processes), and the slow path cost the standalone server a quarter of its requests
// per second. One queued tick kept for the life of the process keeps its classes alive, so V8 only
// ever sees one. Import this module first, before anything that queues ticks.
const kept: object[] = []
process.nextTick(() => { kept.push(executionAsyncResource()) })
