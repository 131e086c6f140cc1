/**
 * Restart delays for a crashing worker slot: 100 ms doubling to 10 s; a worker that ran for
 * 30 s before it died starts the sequence again.
 */
export const RESTART_INITIAL_MS = 100
export const RESTART_MAX_MS = 10_000
export const RESTART_RESET_AFTER_MS = 30_000

export function nextRestartDelay(previousMs: number | undefined, ranForMs: number): number {
  if (previousMs === undefined || ranForMs >= RESTART_RESET_AFTER_MS) return RESTART_INITIAL_MS
  return Math.min(RESTART_MAX_MS, previousMs * 2)
}
