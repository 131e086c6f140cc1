/**
 * Process signals. SIGHUP reloads, SIGUSR1 reopens log files, SIGTERM/SIGINT drain and exit 0,
 * and a second SIGTERM/SIGINT exits 1 at once.
 *
 * Drain order: readiness goes 503 first (load balancers stop sending), reload triggers stop, the
 * data plane drains for drainTimeout, observers flush, and the admin servers close last so
 * readiness keeps answering 503 throughout.
 */
import type { Logger } from '../lib/index.js'
import type { DataPlanePort } from './data-plane-port.js'
import type { Reloader } from './reloader.js'
import type { SnapshotStore } from './snapshot-store.js'

/** Used when no snapshot was ever active (hardening.md §8.2). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000
/** Time on top of drainTimeout for flushing and closing before the exit is forced. */
const SHUTDOWN_MARGIN_MS = 5_000

export interface Closeable {
  close(): Promise<void> | void
}

export interface ObserverControls {
  flush(): Promise<void> | void
  close(): Promise<void> | void
  reopenLogs(): Promise<void> | void
}

export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown
  off(signal: NodeJS.Signals, listener: () => void): unknown
}

export interface LifecycleOptions {
  readonly store: SnapshotStore
  readonly reloader: Pick<Reloader, 'reload' | 'close'>
  readonly dataPlane: Pick<DataPlanePort, 'drain'>
  readonly observers: ObserverControls
  /** Stopped before the drain: whatever triggers reloads (the file watcher). */
  readonly triggers: readonly Closeable[]
  /** Closed after the drain, in order: the admin servers. */
  readonly servers: readonly Closeable[]
  readonly logger: Logger
  readonly exit: (code: number) => void
  readonly signals?: SignalSource
}

export interface Lifecycle {
  install(): void
  uninstall(): void
  /** Drains and exits; later calls return the same promise. */
  shutdown(reason: string): Promise<void>
}

export function createLifecycle(opts: LifecycleOptions): Lifecycle {
  const { store, logger } = opts
  const signals = opts.signals ?? process
  let shutdown: Promise<void> | undefined

  const onHangup = (): void => {
    if (shutdown === undefined) void opts.reloader.reload('signal')
  }
  const onUser1 = (): void => {
    void Promise.resolve()
      .then(() => opts.observers.reopenLogs())
      .then(
        () => logger.info('log files reopened'),
        (e: unknown) => logger.error('reopening log files failed', { error: e }),
      )
  }
  const onStop = (signal: NodeJS.Signals) => (): void => {
    if (shutdown !== undefined) {
      logger.warn(`${signal} during drain; exiting now`)
      opts.exit(1)
      return
    }
    void run(signal)
  }
  const onTerm = onStop('SIGTERM')
  const onInt = onStop('SIGINT')

  const step = async (name: string, fn: () => unknown): Promise<boolean> => {
    try {
      await fn()
      return true
    } catch (e) {
      logger.error(`shutdown: ${name} failed`, { error: e })
      return false
    }
  }

  const drainAndExit = async (reason: string): Promise<void> => {
    store.markDraining()
    const timeoutMs =
      store.view.active?.snapshot.settings.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS
    logger.info('draining', { reason, drainTimeoutMs: timeoutMs })
    const guard = setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting')
      opts.exit(1)
    }, timeoutMs + SHUTDOWN_MARGIN_MS)
    guard.unref()

    let isClean = true
    for (const t of opts.triggers)
      isClean = (await step('stopping triggers', () => t.close())) && isClean
    isClean = (await step('finishing the running reload', () => opts.reloader.close())) && isClean
    isClean =
      (await step('draining', async () => {
        const { forcedConnections } = await opts.dataPlane.drain(timeoutMs)
        logger.info('drained', { forcedConnections })
      })) && isClean
    isClean = (await step('flushing observers', () => opts.observers.flush())) && isClean
    isClean = (await step('closing observers', () => opts.observers.close())) && isClean
    for (const s of opts.servers)
      isClean = (await step('closing servers', () => s.close())) && isClean
    clearTimeout(guard)
    logger.info('stopped')
    opts.exit(isClean ? 0 : 1)
  }

  const run = (reason: string): Promise<void> => {
    shutdown ??= drainAndExit(reason)
    return shutdown
  }

  return {
    install() {
      signals.on('SIGHUP', onHangup)
      signals.on('SIGUSR1', onUser1)
      signals.on('SIGTERM', onTerm)
      signals.on('SIGINT', onInt)
    },
    uninstall() {
      signals.off('SIGHUP', onHangup)
      signals.off('SIGUSR1', onUser1)
      signals.off('SIGTERM', onTerm)
      signals.off('SIGINT', onInt)
    },
    shutdown: run,
  }
}
