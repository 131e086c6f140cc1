/** The limit contract against the in-memory store, on a manual clock. */
import { createMemoryLimitState, createMemoryLimitStore } from '../../src/state/index.js'
import { createManualClock } from '../support/manual-clock.js'
import { runLimitContract } from './limits.contract.js'

runLimitContract('memory store', () => {
  // Start away from 0 so nothing depends on the clock's origin.
  const clock = createManualClock(1_000_000)
  const state = createMemoryLimitState({ clock })
  return Promise.resolve({
    manualTime: true,
    makeStore: () => Promise.resolve(createMemoryLimitStore({ state, scheduler: clock })),
    advance: (ms: number) => {
      clock.advance(ms)
      return Promise.resolve()
    },
  })
})
