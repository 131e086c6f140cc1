/**
 * How often one kind of connection event may reach the application log. A flood of bad
 * connections (one reason, thousands a second) must not turn into thousands of log lines: each
 * reason gets a few lines per interval, and the next line it is allowed says how many were
 * suppressed in between. Metrics count every event; the log is for reading.
 */

/** Lines per reason per interval. */
const LINES_PER_INTERVAL = 5
const INTERVAL_MS = 10_000
/** Reasons are a small fixed set; this only bounds memory if a caller ever passes free text. */
const MAX_REASONS = 256

interface Window {
  startedAt: number
  used: number
  suppressed: number
}

export interface LogBudget {
  /**
   * Whether an event of `reason` may be logged now. When it may, `suppressed` is how many
   * events of that reason were not logged since its last line (0 when none).
   */
  take(reason: string): { readonly allowed: boolean; readonly suppressed: number }
}

export function createLogBudget(
  linesPerInterval = LINES_PER_INTERVAL,
  intervalMs = INTERVAL_MS,
  now: () => number = () => performance.now(),
): LogBudget {
  const windows = new Map<string, Window>()
  const denied = { allowed: false, suppressed: 0 } as const
  return {
    take(reason) {
      const at = now()
      let w = windows.get(reason)
      if (w === undefined) {
        if (windows.size >= MAX_REASONS) windows.clear()
        w = { startedAt: at, used: 0, suppressed: 0 }
        windows.set(reason, w)
      } else if (at - w.startedAt >= intervalMs) {
        w.startedAt = at
        w.used = 0
      }
      if (w.used >= linesPerInterval) {
        w.suppressed++
        return denied
      }
      w.used++
      const suppressed = w.suppressed
      w.suppressed = 0
      return { allowed: true, suppressed }
    },
  }
}
