// The watch list's slot bookkeeping: requests leave it in any order, each exactly once, and a
// sweep drops closed ones without skipping the rest (the timeouts themselves are covered end to
// end in handler-stream-timeouts.test.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { RequestContext } from './context.js'
import { StreamTimeouts } from './stream-timeouts.js'

const DOWNSTREAM = {
  streamIdleTimeoutMs: 60_000,
  minRequestBodyRate: 0,
  minRequestBodyRateWindowMs: 10_000,
}

interface FakeRequest {
  watchSlot: number
  closed: boolean
  startMark: number
  idleSinceMark: number
  idleProgress: number
  bytesSent: number
  bytesReceived: number
  hasBody: boolean
  prepared: { snapshot: { settings: { downstream: typeof DOWNSTREAM } } }
}

function fakeRequest(): FakeRequest {
  return {
    watchSlot: -1,
    closed: false,
    startMark: performance.now(),
    idleSinceMark: 0,
    idleProgress: 0,
    bytesSent: 0,
    bytesReceived: 0,
    hasBody: false,
    prepared: { snapshot: { settings: { downstream: DOWNSTREAM } } },
  }
}

const asContext = (r: FakeRequest): RequestContext => r as unknown as RequestContext

test('requests leave the watch list in any order, each once', () => {
  const watch = new StreamTimeouts()
  const reqs = Array.from({ length: 5 }, fakeRequest)
  for (const r of reqs) watch.track(asContext(r))
  watch.track(asContext(reqs[0]!)) // tracked twice: still one entry
  assert.equal(watch.size, 5)
  for (const i of [1, 4, 0]) watch.untrack(asContext(reqs[i]!))
  watch.untrack(asContext(reqs[1]!)) // already gone: nothing happens
  assert.equal(watch.size, 2)
  assert.deepEqual(
    reqs.map((r) => r.watchSlot >= 0),
    [false, false, true, true, false],
  )
  watch.untrack(asContext(reqs[3]!))
  watch.untrack(asContext(reqs[2]!))
  assert.equal(watch.size, 0)
  watch.check() // stops the sweep timer
})

test('a sweep drops closed requests and keeps the others', () => {
  const watch = new StreamTimeouts()
  const reqs = Array.from({ length: 6 }, fakeRequest)
  for (const r of reqs) watch.track(asContext(r))
  for (const i of [0, 2, 5]) reqs[i]!.closed = true
  for (const r of reqs) r.bytesSent = 1 // progress: none of the open ones is idle
  watch.check()
  assert.equal(watch.size, 3)
  assert.deepEqual(
    reqs.map((r) => r.watchSlot >= 0),
    [false, true, false, true, true, false],
  )
  // Every open request was checked (its progress was read) in that one pass.
  assert.deepEqual(
    reqs.filter((r) => !r.closed).map((r) => r.idleProgress),
    [1, 1, 1],
  )
  for (const r of reqs) watch.untrack(asContext(r))
  assert.equal(watch.size, 0)
  watch.check()
})
