/**
 * The overload guard's monitor, in the spirit of Envoy's overload manager: a timer measures the
 * event-loop delay and flips one flag the request path reads. Requests never touch it.
 *
 * The delay is how late a SAMPLE_MS timer fires, the measure perf_hooks.monitorEventLoopDelay
 * takes natively; that histogram drops the first sample after each reset, so per-window
 * figures from it miss a loop that turns once per window (a long synchronous task).
 *
 * Hysteresis, so neither shedding nor readiness flaps:
 * - overloaded after ENTER_WINDOWS consecutive windows whose longest delay exceeds the bound: a
 *   single stall (a GC pause, the scheduler on a busy machine) is not overload, a loop that keeps
 *   lagging is;
 * - recovered after EXIT_WINDOWS consecutive windows below half the bound.
 */
import { performance } from 'node:perf_hooks'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import type { PreparedStep, ReloadParticipant } from './reloader.js'

export const WINDOW_MS = 250
export const ENTER_WINDOWS = 2
export const EXIT_WINDOWS = 4
/** Fine enough for bounds of tens of ms; 50 wake-ups a second cost nothing measurable. */
const SAMPLE_MS = 20

/** The state the data plane reads (structurally its OverloadSignal). */
export interface OverloadState {
  readonly isOverloaded: boolean
  readonly retryAfter: string
  readonly maxActiveRequests: number
  /** Kept by the request path alone (requests admitted under the cap, in progress). */
  activeRequests: number
}

export interface OverloadMonitor extends ReloadParticipant {
  readonly state: OverloadState
  /** The longest event-loop delay of the last finished window, in ms (0 while off). */
  readonly lastDelayMs: number
  configure(settings: ir.OverloadSettings | undefined): void
  close(): Promise<void>
}

interface Mutable {
  isOverloaded: boolean
  retryAfter: string
  maxActiveRequests: number
  activeRequests: number
}

export function createOverloadMonitor(
  settings: ir.OverloadSettings | undefined,
  log: Logger,
): OverloadMonitor {
  const state: Mutable = {
    isOverloaded: false,
    retryAfter: '1',
    maxActiveRequests: 0,
    activeRequests: 0,
  }
  let boundMs = 0
  let timer: NodeJS.Timeout | undefined
  let hot = 0
  let cool = 0
  let lastDelayMs = 0
  let since = 0
  let lastSample = 0
  let windowStart = 0
  let windowMax = 0

  const sample = (): void => {
    const now = performance.now()
    const late = now - lastSample - SAMPLE_MS
    lastSample = now
    if (late > windowMax) windowMax = late
    if (now - windowStart >= WINDOW_MS) endWindow(now)
  }

  const endWindow = (now: number): void => {
    const delayMs = windowMax
    windowStart = now
    windowMax = 0
    lastDelayMs = delayMs
    if (!state.isOverloaded) {
      hot = delayMs > boundMs ? hot + 1 : 0
      if (hot < ENTER_WINDOWS) return
      state.isOverloaded = true
      cool = 0
      since = Date.now()
      log.warn('overloaded: shedding new requests with 503 OM', {
        eventLoopDelayMs: Math.round(delayMs),
        maxEventLoopDelayMs: boundMs,
      })
      return
    }
    cool = delayMs < boundMs / 2 ? cool + 1 : 0
    if (cool < EXIT_WINDOWS) return
    state.isOverloaded = false
    hot = 0
    log.info('overload over: admitting new requests', {
      eventLoopDelayMs: Math.round(delayMs),
      overloadedForMs: Date.now() - since,
    })
  }

  const stop = (): void => {
    if (timer !== undefined) clearInterval(timer)
    timer = undefined
    state.isOverloaded = false
    hot = 0
    cool = 0
    lastDelayMs = 0
  }

  const configure = (s: ir.OverloadSettings | undefined): void => {
    state.retryAfter = String(s?.retryAfterSeconds ?? 1)
    // The count is the request path's; a request admitted before a cap existed is not in it.
    state.maxActiveRequests = s?.maxActiveRequests ?? 0
    const next = s?.maxEventLoopDelayMs ?? 0
    if (next === boundMs) return
    boundMs = next
    if (next === 0) {
      stop()
      return
    }
    if (timer === undefined) {
      lastSample = windowStart = performance.now()
      windowMax = 0
      // The guard never keeps the process alive on its own.
      timer = setInterval(sample, SAMPLE_MS).unref()
    }
  }

  configure(settings)
  return {
    name: 'overload guard',
    state,
    get lastDelayMs() {
      return lastDelayMs
    },
    configure,
    prepare(next: ir.Snapshot): Promise<PreparedStep> {
      return Promise.resolve({
        commit: () => configure(next.settings.overload),
        abort: () => Promise.resolve(),
      })
    },
    close() {
      stop()
      boundMs = 0
      return Promise.resolve()
    },
  }
}
