/**
 * The cluster primary (GatewayConfig `workers: N`): forks N workers that each run the whole
 * gateway on the same ports, and runs no data plane itself. It owns what must be one per
 * machine: the readiness answer (200 only while every worker reports ready), the in-memory
 * limit store the workers share without Redis (state/ipc), signals, and restarts.
 *
 * - SIGHUP (or a file change with --watch): the primary loads and compiles the config first; a
 *   rejected config is reported once, here, and no worker is asked. A valid one is sent to every
 *   worker as a reload; what a worker alone fails at (a port it cannot bind) it logs itself,
 *   with its worker id.
 * - SIGTERM/SIGINT: readiness 503, every worker drains, the primary exits 0 when all exited
 *   cleanly (1 otherwise, or at drainTimeout + margin, killing what is left). A second signal
 *   stops the workers at once.
 * - A worker that dies after startup is restarted with backoff; one that dies before every
 *   worker was first ready fails the start (exit 1), as a single process would.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from '../../lib/index.js'
import { createIpcLimitServer, isLimitRequest } from '../../state/index.js'
import type { BuildResult } from '../build.js'
import { DEFAULT_DRAIN_TIMEOUT_MS, type Closeable, type SignalSource } from '../lifecycle.js'
import { logDiagnostics } from '../report.js'
import { nextRestartDelay } from './backoff.js'
import {
  CONTROL,
  isTagged,
  isWorkerState,
  METRICS_REPLY,
  METRICS_REQUEST,
  RELOAD_OTHERS,
  WORKER_SLOT_ENV,
  type ControlMessage,
  type MetricsReply,
  type MetricsRequest,
  type ReloadOthers,
} from './messages.js'
import { sumExpositions } from './sum-exposition.js'

const SHUTDOWN_MARGIN_MS = 5_000
/** A worker that has not answered a scrape by then is left out of it (and the gap logged). */
const METRICS_TIMEOUT_MS = 3_000
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8'

/** What the primary's metrics server serves: the sum of every worker's exposition. */
export interface SummedMetrics {
  metricsText(): Promise<string>
  readonly metricsContentType: string
}

/** What the readiness server asks (admin/'s readiness server takes this shape). */
export interface WorkersReadiness {
  isReady(): boolean
  readonly snapshots: { readonly isDraining: boolean }
}

export interface PrimaryOptions {
  readonly count: number
  readonly drainTimeoutMs: number | undefined
  readonly logger: Logger
  /** Loads and compiles the config files (what each worker would apply). */
  readonly check: () => BuildResult
  /** Starts the readiness server for the primary's answer; closed last on shutdown. */
  readonly startReadiness: (readiness: WorkersReadiness) => Promise<Closeable>
  /** Starts the metrics server for the workers' summed metrics; closed with readiness. */
  readonly startMetrics?: (metrics: SummedMetrics) => Promise<Closeable>
  /** Starts whatever calls `onChange` when the config files change (--watch). */
  readonly watch?: (onChange: () => void) => Closeable
  readonly exit: (code: number) => void
  readonly signals?: SignalSource
}

interface Slot {
  readonly index: number
  worker: Worker | undefined
  isReady: boolean
  startedAt: number
  restartDelayMs: number | undefined
  restartTimer: NodeJS.Timeout | undefined
}

/** Starts the workers; resolves undefined once all are serving, or an exit code on failure. */
export async function runPrimary(opts: PrimaryOptions): Promise<number | undefined> {
  const { logger, count } = opts
  const signals = opts.signals ?? process
  const limits = createIpcLimitServer()
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    worker: undefined,
    isReady: false,
    startedAt: 0,
    restartDelayMs: undefined,
    restartTimer: undefined,
  }))
  let drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS
  let isStarting = true
  let isDraining = false
  let isClean = true
  let settleStart: ((code: number | undefined) => void) | undefined
  let readiness: Closeable | undefined
  let metricsServer: Closeable | undefined
  let watcher: Closeable | undefined

  const readinessView: WorkersReadiness = {
    isReady: () => !isDraining && slots.every((s) => s.isReady),
    snapshots: {
      get isDraining() {
        return isDraining
      },
    },
  }

  const send = (w: Worker | undefined, command: ControlMessage['command']): void => {
    if (w === undefined || !w.isConnected()) return
    w.send({ t: CONTROL, command } satisfies ControlMessage, (e: Error | null) => {
      if (e !== null) logger.warn('cannot reach a worker', { worker: w.id, error: e })
    })
  }
  const broadcast = (command: ControlMessage['command']): void => {
    for (const s of slots) send(s.worker, command)
  }

  // One scrape asks every connected worker and sums what comes back within the timeout.
  const scrapes = new Map<number, (reply: MetricsReply) => void>()
  let nextScrape = 0
  const summed: SummedMetrics = {
    metricsContentType: PROMETHEUS_TEXT,
    metricsText: () =>
      new Promise((resolve) => {
        const id = nextScrape++
        const targets = slots.flatMap((s) => (s.worker?.isConnected() === true ? [s.worker] : []))
        const texts: string[] = []
        const finish = (): void => {
          clearTimeout(timer)
          scrapes.delete(id)
          if (texts.length < targets.length) {
            logger.warn('metrics scrape missed workers', {
              answered: texts.length,
              workers: targets.length,
            })
          }
          resolve(sumExpositions(texts))
        }
        const timer = setTimeout(finish, METRICS_TIMEOUT_MS)
        scrapes.set(id, (reply) => {
          texts.push(reply.text)
          if (texts.length === targets.length) finish()
        })
        if (targets.length === 0) finish()
        for (const w of targets) w.send({ t: METRICS_REQUEST, id } satisfies MetricsRequest)
      }),
  }

  // An admin POST /reload reaches one worker (the port is shared); it applied the config
  // itself, and the others follow.
  const reloadOthers = (from: Slot): void => {
    if (isDraining || isStarting) return
    logger.info('reloading workers', { trigger: 'admin', worker: from.index })
    for (const s of slots) if (s !== from) send(s.worker, 'reload')
  }

  const fork = (slot: Slot): void => {
    slot.restartTimer = undefined
    slot.isReady = false
    slot.startedAt = Date.now()
    const w = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.index) })
    slot.worker = w
    w.on('message', (m: unknown) => {
      if (isLimitRequest(m)) limits.handle(w.id, m, w)
      else if (isWorkerState(m)) onState(slot, w, m.ready)
      else if (isTagged<MetricsReply>(m, METRICS_REPLY)) scrapes.get(m.id)?.(m)
      else if (isTagged<ReloadOthers>(m, RELOAD_OTHERS)) reloadOthers(slot)
    })
    w.on('exit', (code: number | null, signal: NodeJS.Signals | null) =>
      onExit(slot, w, code, signal),
    )
  }

  const onState = (slot: Slot, w: Worker, isReady: boolean): void => {
    if (slot.worker !== w) return
    slot.isReady = isReady
    if (isStarting && slots.every((s) => s.isReady)) {
      isStarting = false
      settleStart?.(undefined)
    }
  }

  const onExit = (
    slot: Slot,
    w: Worker,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void => {
    const released = limits.releaseWorker(w.id)
    if (slot.worker === w) {
      slot.worker = undefined
      slot.isReady = false
    }
    const fields = {
      worker: slot.index,
      pid: w.process.pid,
      code,
      signal,
      ...(released > 0 ? { leasesReleased: released } : {}),
    }
    if (isDraining) {
      if (code !== 0) isClean = false
      logger.info('worker stopped', fields)
      if (slots.every((s) => s.worker === undefined)) void finish()
      return
    }
    if (isStarting) {
      logger.error('worker failed to start; stopping', fields)
      isClean = false
      void stop('a worker failed to start', 1)
      return
    }
    const delay = nextRestartDelay(slot.restartDelayMs, Date.now() - slot.startedAt)
    slot.restartDelayMs = delay
    logger.error('worker exited; restarting', { ...fields, restartInMs: delay })
    slot.restartTimer = setTimeout(() => fork(slot), delay)
  }

  const reload = (trigger: string): void => {
    if (isDraining || isStarting) return
    let built: BuildResult
    try {
      built = opts.check()
    } catch (e) {
      logger.error('config rejected; workers keep serving', { trigger, error: e })
      return
    }
    if (!built.ok) {
      logDiagnostics(logger, built.diagnostics)
      logger.error('config rejected; workers keep serving', { trigger })
      return
    }
    drainTimeoutMs = built.snapshot.settings.drainTimeoutMs
    logger.info('reloading workers', { trigger, workers: count })
    broadcast('reload')
  }

  let exitCode = 0
  let stopping: Promise<void> | undefined
  const finish = async (): Promise<void> => {
    await limits.close()
    await metricsServer?.close()
    await readiness?.close()
    logger.info('stopped')
    opts.exit(isClean ? exitCode : 1)
  }
  const stop = (reason: string, code: number): Promise<void> => {
    if (stopping !== undefined) return stopping
    isDraining = true
    exitCode = code
    settleStart?.(code)
    void watcher?.close()
    for (const s of slots) clearTimeout(s.restartTimer)
    logger.info('draining workers', { reason, drainTimeoutMs })
    const guard = setTimeout(() => {
      logger.error('workers did not stop in time; killing them')
      for (const s of slots) s.worker?.process.kill('SIGKILL')
      opts.exit(1)
    }, drainTimeoutMs + SHUTDOWN_MARGIN_MS)
    guard.unref()
    broadcast('shutdown')
    stopping = slots.every((s) => s.worker === undefined) ? finish() : Promise.resolve()
    return stopping
  }

  const onHangup = (): void => reload('signal')
  const onUser1 = (): void => broadcast('reopen-logs')
  const onStop = (signal: NodeJS.Signals) => (): void => {
    if (stopping !== undefined) {
      logger.warn(`${signal} during drain; stopping workers now`)
      for (const s of slots) s.worker?.process.kill('SIGTERM')
      opts.exit(1)
      return
    }
    void stop(signal, 0)
  }
  signals.on('SIGHUP', onHangup)
  signals.on('SIGUSR1', onUser1)
  signals.on('SIGTERM', onStop('SIGTERM'))
  signals.on('SIGINT', onStop('SIGINT'))

  try {
    readiness = await opts.startReadiness(readinessView)
  } catch (e) {
    logger.error('cannot start the readiness server', { error: e })
    await limits.close()
    return 1
  }
  try {
    metricsServer = await opts.startMetrics?.(summed)
  } catch (e) {
    logger.error('cannot start the metrics server', { error: e })
    await readiness.close()
    await limits.close()
    return 1
  }
  const started = new Promise<number | undefined>((resolve) => {
    settleStart = resolve
  })
  for (const slot of slots) fork(slot)
  const code = await started
  settleStart = undefined
  if (code !== undefined) return undefined // stop() exits once the workers are gone
  if (opts.watch !== undefined) watcher = opts.watch(() => reload('file'))
  logger.info('portcullis started', {
    workers: count,
    pids: slots.map((s) => s.worker?.process.pid),
  })
  return undefined
}
