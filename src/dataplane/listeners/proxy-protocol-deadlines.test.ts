// The PROXY header deadlines: a connection that never completes its header is expired once its
// timeout has passed (not before, and not much after), one that completes it never is, and the
// shared timer stops once nothing is pending.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HeaderDeadlines, SWEEP_MS } from './proxy-protocol-deadlines.js'

/** Resolves once `done()` holds; fails after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!done()) {
    if (performance.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

test('an armed deadline expires after its timeout, a cancelled one never', async () => {
  const deadlines = new HeaderDeadlines(150)
  const expired: string[] = []
  const started = performance.now()
  const slow = (): void => void expired.push('slow')
  const done = (): void => void expired.push('done')
  deadlines.arm(done)
  deadlines.arm(slow)
  deadlines.cancel(done)
  await until(() => expired.length > 0, 10_000, 'the slow connection expired')
  const after = performance.now() - started
  assert.deepEqual(expired, ['slow'], 'only the connection that did not cancel')
  assert.ok(after >= 150, `not before its timeout (${after.toFixed(0)} ms)`)
  assert.equal(deadlines.size, 0, 'nothing left pending')
})

test('deadlines expire in order, each once, and later arms start the timer again', async () => {
  const deadlines = new HeaderDeadlines(SWEEP_MS)
  const expired: number[] = []
  for (const n of [1, 2, 3]) deadlines.arm(() => void expired.push(n))
  await until(() => expired.length === 3, 10_000, 'all three expired')
  assert.deepEqual(expired, [1, 2, 3])
  // After the set ran empty, the timer stopped; arming again must start it again.
  deadlines.arm(() => void expired.push(4))
  await until(() => expired.length === 4, 10_000, 'the fourth expired')
  assert.deepEqual(expired, [1, 2, 3, 4])
  assert.equal(deadlines.size, 0)
})
