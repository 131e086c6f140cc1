/**
 * Reload = build (load + compile) → skip when the snapshot hash is unchanged → prepare (data
 * plane, then participants such as the admin servers) → activate → swap. Any failure rejects the
 * whole attempt and releases what was prepared: the old snapshot keeps serving and readiness
 * does not change. Attempts run one at a time; triggers that arrive during one are folded into
 * exactly one more.
 */
import type { Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import type { ReloadObserver } from '../observe/events.js'
import type { BuildResult } from './build.js'
import type { DataPlanePort, PreparedChange } from './data-plane-port.js'
import { logDiagnostics } from './report.js'
import type { ReloadOutcome, ReloadTrigger, SnapshotStore } from './snapshot-store.js'

/** Something besides the data plane that must follow a new snapshot (e.g. admin ports). */
export interface ReloadParticipant {
  readonly name: string
  /** Takes what `next` needs (binds new ports) without releasing anything; rejects on failure. */
  prepare(next: ir.Snapshot, previous: ir.Snapshot | undefined): Promise<PreparedStep>
}

export interface PreparedStep {
  /** After the swap: release what the old snapshot held. Must not wait for in-flight requests. */
  commit(): void
  /** The reload failed: release what prepare took. */
  abort(): Promise<void>
}

export interface ReloaderOptions {
  readonly paths: readonly string[]
  /** `changed`: the only files that can have changed (see config/parse-cache.ts); undefined: any. */
  readonly build: (paths: readonly string[], changed?: ReadonlySet<string>) => BuildResult
  readonly dataPlane: DataPlanePort
  readonly store: SnapshotStore
  readonly logger: Logger
  readonly observer?: ReloadObserver
  readonly now?: () => number
}

export interface Reloader {
  /**
   * Loads the config files again and applies them. Never rejects; the outcome says what happened.
   * `changed`: the absolute paths of the only files that changed (the watcher's events named
   * them); without it every file is looked at.
   */
  reload(trigger: ReloadTrigger, changed?: ReadonlySet<string>): Promise<ReloadOutcome>
  /** Applies an already built config (the first start, which main builds itself). */
  apply(built: BuildResult, trigger: ReloadTrigger): Promise<ReloadOutcome>
  register(participant: ReloadParticipant): void
  /** Refuses further reloads and waits for the running one. */
  close(): Promise<void>
}

export function createReloader(opts: ReloaderOptions): Reloader {
  const { dataPlane, store, logger } = opts
  const now = opts.now ?? Date.now
  const participants: ReloadParticipant[] = []
  let running: Promise<ReloadOutcome> | undefined
  let queued: Promise<ReloadOutcome> | undefined
  // What the queued attempt may skip looking at: the union of what the folded triggers named,
  // 'all' once one of them named nothing.
  let queuedChanged: Set<string> | 'all' | undefined
  let isClosed = false

  const start = (job: () => Promise<ReloadOutcome>): Promise<ReloadOutcome> => {
    const p: Promise<ReloadOutcome> = job().finally(() => {
      if (running === p) running = undefined
    })
    running = p
    return p
  }

  const reload = (
    trigger: ReloadTrigger,
    changed?: ReadonlySet<string>,
  ): Promise<ReloadOutcome> => {
    if (isClosed) return Promise.resolve(refused(trigger))
    if (running === undefined) return start(() => buildAndApply(trigger, changed))
    if (changed === undefined || queuedChanged === 'all') queuedChanged = 'all'
    else queuedChanged = new Set([...(queuedChanged ?? []), ...changed])
    queued ??= running.then(() => {
      const folded = queuedChanged
      queued = undefined
      queuedChanged = undefined
      return reload(trigger, folded === 'all' ? undefined : folded)
    })
    return queued
  }

  const refused = (trigger: ReloadTrigger): ReloadOutcome => {
    const active = store.view.active
    return {
      result: 'rejected',
      trigger,
      version: active?.version ?? 0,
      hash: active?.snapshot.hash,
      diagnostics: [],
      error: 'the gateway is shutting down',
      at: now(),
      durationMs: 0,
    }
  }

  const buildAndApply = async (
    trigger: ReloadTrigger,
    changed: ReadonlySet<string> | undefined,
  ): Promise<ReloadOutcome> => {
    const startedAt = now()
    let built: BuildResult
    try {
      built = opts.build(opts.paths, changed)
    } catch (e) {
      return finish(
        trigger,
        'rejected',
        startedAt,
        [],
        `building the config failed: ${errorText(e)}`,
      )
    }
    return applyBuilt(built, trigger, startedAt)
  }

  const applyBuilt = async (
    built: BuildResult,
    trigger: ReloadTrigger,
    startedAt: number,
  ): Promise<ReloadOutcome> => {
    if (!built.ok) return finish(trigger, 'rejected', startedAt, built.diagnostics)
    const previous = store.view.active?.snapshot
    if (previous !== undefined && previous.hash === built.snapshot.hash) {
      return finish(trigger, 'unchanged', startedAt, built.diagnostics)
    }

    let change: PreparedChange
    try {
      change = await dataPlane.prepare(built.snapshot)
    } catch (e) {
      return finish(trigger, 'rejected', startedAt, built.diagnostics, errorText(e))
    }
    const steps: PreparedStep[] = []
    try {
      for (const p of participants) steps.push(await p.prepare(built.snapshot, previous))
      dataPlane.activate(change)
    } catch (e) {
      await release(steps, change)
      return finish(trigger, 'rejected', startedAt, built.diagnostics, errorText(e))
    }
    store.swap(built.snapshot, { sourceHash: built.sourceHash, files: built.files, at: now() })
    for (const step of steps) {
      try {
        step.commit()
      } catch (e) {
        logger.warn('releasing the previous config failed', { error: e })
      }
    }
    return finish(trigger, 'applied', startedAt, built.diagnostics)
  }

  const release = async (steps: readonly PreparedStep[], change: PreparedChange): Promise<void> => {
    for (const step of [...steps].reverse()) {
      await step
        .abort()
        .catch((e: unknown) => logger.warn('releasing a prepared step failed', { error: e }))
    }
    await dataPlane
      .abort(change)
      .catch((e: unknown) => logger.warn('releasing the prepared data plane failed', { error: e }))
  }

  const finish = (
    trigger: ReloadTrigger,
    result: ReloadOutcome['result'],
    startedAt: number,
    diagnostics: readonly Diagnostic[],
    error?: string,
  ): ReloadOutcome => {
    const active = store.view.active
    const at = now()
    const outcome: ReloadOutcome = {
      result,
      trigger,
      version: active?.version ?? 0,
      hash: active?.snapshot.hash,
      diagnostics,
      ...(error !== undefined ? { error } : {}),
      at,
      durationMs: at - startedAt,
    }
    store.record(outcome)
    opts.observer?.onReload(result, outcome.version)
    report(outcome)
    return outcome
  }

  const report = (o: ReloadOutcome): void => {
    const fields = { trigger: o.trigger, version: o.version, durationMs: o.durationMs }
    if (o.result === 'unchanged') {
      logger.info('config unchanged', fields)
      return
    }
    logDiagnostics(logger, o.diagnostics)
    if (o.result === 'applied') {
      logger.info('config applied', {
        ...fields,
        hash: o.hash?.slice(0, 12),
        warnings: o.diagnostics.length,
      })
      return
    }
    const errors = o.diagnostics.filter((d) => d.severity === 'error').length
    const why = o.error !== undefined ? { error: o.error } : { errors }
    if (o.version === 0) logger.error('config rejected', { ...fields, ...why })
    else logger.error(`config rejected; still serving version ${o.version}`, { ...fields, ...why })
  }

  return {
    reload,
    async apply(built, trigger) {
      if (isClosed) return refused(trigger)
      const startedAt = now()
      while (running !== undefined) await running
      return start(() => applyBuilt(built, trigger, startedAt))
    },
    register(participant) {
      participants.push(participant)
    },
    async close() {
      isClosed = true
      const pending = queued ?? running
      if (pending !== undefined) await pending
    },
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
