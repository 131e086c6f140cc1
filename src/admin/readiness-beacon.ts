/**
 * The readiness answer, shared between the event loop that knows it and the readiness thread
 * that serves it (readiness-thread.ts). The loop publishes, every HEARTBEAT_MS, its current
 * answer and a heartbeat into a SharedArrayBuffer; the thread reads both with Atomics and never
 * waits for the loop. A heartbeat older than the overload bound (plus one beat) means the loop
 * is not turning: the thread then answers 503 overloaded itself, unless a drain was published
 * (a draining process stays "draining" however busy it is).
 *
 * Without an overload guard the bound is STALE_WITHOUT_GUARD_MS: a loop that has not turned for
 * a second serves nothing, and a probe sent to it would have timed out before this thread.
 */
import { readinessOf, type ReadinessSource } from './readiness-server.js'

export const HEARTBEAT_MS = 20
export const STALE_WITHOUT_GUARD_MS = 1000

/** The answers the loop publishes (Int32 slot STATE). */
const STATE_NAMES = ['not ready', 'ready', 'draining', 'overloaded'] as const
type StateName = (typeof STATE_NAMES)[number]

// Layout: Int32 [0] state, [1] stale-after ms; BigInt64 [1] (bytes 8-15) heartbeat epoch ms.
const STATE = 0
const STALE_AFTER = 1
const HEARTBEAT = 1
const BYTES = 16

/** The source the loop publishes from; with the active snapshot for the overload bound. */
export type BeaconSource = ReadinessSource & {
  readonly snapshots: {
    /** Publishes at the moment the drain begins, not up to a heartbeat later. */
    readonly onDraining?: (listener: () => void) => void
    readonly active?:
      | { readonly snapshot: { readonly settings: { readonly overload?: OverloadBound } } }
      | undefined
  }
}
interface OverloadBound {
  readonly maxEventLoopDelayMs: number
}

export interface ReadinessBeacon {
  readonly buffer: SharedArrayBuffer
  /** Stops the heartbeat; the thread then reports the loop as stale. */
  close(): void
}

/** Starts publishing `source`'s answer and a heartbeat on this thread's event loop. */
export function createReadinessBeacon(source: BeaconSource): ReadinessBeacon {
  const buffer = new SharedArrayBuffer(BYTES)
  const ints = new Int32Array(buffer)
  const beat = new BigInt64Array(buffer)
  let isClosed = false
  const publish = (): void => {
    if (isClosed) return
    const bound = source.snapshots.active?.snapshot.settings.overload?.maxEventLoopDelayMs ?? 0
    const name = readinessOf(source).body as StateName
    Atomics.store(ints, STALE_AFTER, (bound > 0 ? bound : STALE_WITHOUT_GUARD_MS) + HEARTBEAT_MS)
    Atomics.store(ints, STATE, Math.max(0, STATE_NAMES.indexOf(name)))
    Atomics.store(beat, HEARTBEAT, BigInt(Date.now()))
  }
  publish()
  source.snapshots.onDraining?.(publish)
  // The beacon never keeps the process alive on its own.
  const timer = setInterval(publish, HEARTBEAT_MS).unref()
  return {
    buffer,
    close: () => {
      isClosed = true
      clearInterval(timer)
    },
  }
}

/** The readiness thread's view of a beacon: a ReadinessSource that never touches the loop. */
export function readBeacon(buffer: SharedArrayBuffer): ReadinessSource {
  const ints = new Int32Array(buffer)
  const beat = new BigInt64Array(buffer)
  const state = (): StateName => STATE_NAMES[Atomics.load(ints, STATE)] ?? 'not ready'
  const isStale = (): boolean =>
    Date.now() - Number(Atomics.load(beat, HEARTBEAT)) > Atomics.load(ints, STALE_AFTER)
  return {
    isReady: () => state() === 'ready' && !isStale(),
    isOverloaded: () => state() === 'overloaded' || isStale(),
    snapshots: {
      get isDraining() {
        return state() === 'draining'
      },
    },
  }
}
