/**
 * Keeps an order lock's lease alive while the order runs: renewed every `everyMs` (a third of
 * the lease, so one missed renewal still leaves time). A renewal refused or failing marks the
 * lock lost; the order then stops before finalizing and the store refuses its write anyway.
 */
import type { OrderLock } from './store/index.js'

export function startHeartbeat(lock: OrderLock, everyMs: number) {
  let lost = false
  const timer = setInterval(
    () => {
      lock.renew().then(
        (ok) => {
          if (!ok) lost = true
        },
        () => (lost = true),
      )
    },
    Math.max(50, everyMs),
  )
  timer.unref()
  return {
    lost: () => lost,
    stop: () => clearInterval(timer),
  }
}
