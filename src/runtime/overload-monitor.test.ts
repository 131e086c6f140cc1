// The overload guard's monitor against this process's own event loop, blocked for real by
// bounded busy-waits: a loop that keeps lagging is overloaded, a single stall is not, and it
// recovers by itself once the loop runs freely again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '../lib/index.js'
import { createOverloadMonitor, WINDOW_MS } from './overload-monitor.js'

function busyWait(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // Spinning on purpose: this is the blocked event loop under test.
  }
}

function recordingLogger(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = []
  return { lines, log: createLogger({ format: 'json', write: (l) => lines.push(l) }) }
}

/** Blocks the loop in slices of `sliceMs` (yielding between them) until `done` or the deadline. */
async function lagUntil(done: () => boolean, sliceMs: number, deadlineMs: number): Promise<void> {
  const deadline = performance.now() + deadlineMs
  for (let i = 0; i < 1000 && !done() && performance.now() < deadline; i++) {
    busyWait(sliceMs)
    await yieldToLoop()
  }
}

async function waitFor(done: () => boolean, deadlineMs: number): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (!done() && performance.now() < deadline) await sleep(20)
}

test('a loop that keeps lagging is overloaded, then recovers by itself', async () => {
  const { lines, log } = recordingLogger()
  const monitor = createOverloadMonitor(
    { maxEventLoopDelayMs: 100, retryAfterSeconds: 2, maxActiveRequests: 0 },
    log,
  )
  try {
    assert.equal(monitor.state.isOverloaded, false)
    assert.equal(monitor.state.retryAfter, '2')
    await lagUntil(() => monitor.state.isOverloaded, 250, 15_000)
    assert.equal(monitor.state.isOverloaded, true, 'overloaded while the loop lags')
    assert.ok(monitor.lastDelayMs > 100, `${monitor.lastDelayMs} ms`)
    assert.ok(lines.some((l) => /"level":"warn","msg":"overloaded: shedding/.test(l)))
    await waitFor(() => !monitor.state.isOverloaded, 20_000)
    assert.equal(monitor.state.isOverloaded, false, 'recovered once the loop runs freely')
    assert.ok(lines.some((l) => /"msg":"overload over: admitting new requests"/.test(l)))
  } finally {
    await monitor.close()
  }
})

test('a single stall is not overload', async () => {
  const monitor = createOverloadMonitor(
    { maxEventLoopDelayMs: 300, retryAfterSeconds: 1, maxActiveRequests: 0 },
    createLogger({ write: () => undefined }),
  )
  try {
    await sleep(WINDOW_MS * 2)
    busyWait(700)
    // Several windows after the stall: none of them lagged again.
    for (let i = 0; i < 8; i++) {
      await sleep(WINDOW_MS)
      assert.equal(monitor.state.isOverloaded, false)
    }
  } finally {
    await monitor.close()
  }
})

test('maxEventLoopDelay 0 turns the guard off; a reload can turn it on and off', async () => {
  const monitor = createOverloadMonitor(
    { maxEventLoopDelayMs: 0, retryAfterSeconds: 1, maxActiveRequests: 0 },
    createLogger({ write: () => undefined }),
  )
  try {
    await lagUntil(() => monitor.state.isOverloaded, 250, WINDOW_MS * 6)
    assert.equal(monitor.state.isOverloaded, false)
    assert.equal(monitor.lastDelayMs, 0)
    monitor.configure({ maxEventLoopDelayMs: 100, retryAfterSeconds: 3, maxActiveRequests: 0 })
    assert.equal(monitor.state.retryAfter, '3')
    await lagUntil(() => monitor.state.isOverloaded, 250, 15_000)
    assert.equal(monitor.state.isOverloaded, true)
    monitor.configure({ maxEventLoopDelayMs: 0, retryAfterSeconds: 3, maxActiveRequests: 0 })
    assert.equal(monitor.state.isOverloaded, false, 'turning it off admits at once')
  } finally {
    await monitor.close()
  }
})
