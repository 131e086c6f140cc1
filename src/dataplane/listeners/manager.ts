/**
 * Owns the bound listeners across reloads: prepare binds what is new, activate swaps what new
 * requests see and drains what was removed, drain shuts everything down (hardening.md §8).
 */
import type * as ir from '../../ir/index.js'
import type { HttpListener, ListenerHooks, ServeView } from './http-listener.js'
import { bindHttpListener } from './http-listener.js'
import { createConnectionErrorReporter } from './connection-errors.js'
import { createServeView } from './serve-view.js'
import { bindL4Listener, type L4Listener, type PreparedL4 } from './l4-listener.js'
import { sniEgressListeners } from './egress-listeners.js'
import { assertStrictHttpParser, checkLimits } from './server-options.js'
import type {
  ListenerManager,
  ListenerManagerDeps,
  ListenerStats,
  PreparedListeners,
} from './types.js'

interface PendingSet<P> {
  readonly next: P
  readonly created: ReadonlyMap<ir.ListenerId, HttpListener<P>>
  readonly summary: PreparedListeners
  /** TLS and TCP listeners: what they serve once this set is activated. */
  readonly l4: ReadonlyMap<ir.ListenerId, PreparedL4>
}

export function createListenerManager<P extends { readonly snapshot: ir.Snapshot }>(
  deps: ListenerManagerDeps<P>,
): ListenerManager<P> {
  assertStrictHttpParser()
  const log = deps.log
  const hooks: ListenerHooks<P> = {
    handler: deps.handler,
    observer: deps.observer,
    log,
    ...(deps.onConnectionRefused !== undefined
      ? { onConnectionRefused: deps.onConnectionRefused }
      : {}),
    ...(deps.sharedCaps !== undefined ? { sharedCaps: deps.sharedCaps } : {}),
    connectionErrors: createConnectionErrorReporter(log, deps.connections),
  }
  const active = new Map<ir.ListenerId, HttpListener<P>>()
  /** The TLS/TCP side of listeners bound with an acceptor (active, created or retiring). */
  const l4 = new Map<HttpListener<P>, L4Listener<P>>()
  const retiring = new Set<HttpListener<P>>()
  const pendingSets = new WeakMap<PreparedListeners, PendingSet<P>>()
  let preparing = false
  let outstanding: PendingSet<P> | undefined
  let current: P | undefined
  let servedIds: readonly ir.ListenerId[] = []
  let shutdown: Promise<{ forcedConnections: number }> | undefined
  const retired = new WeakSet<P>()

  async function prepare(next: P): Promise<PreparedListeners> {
    if (shutdown !== undefined) throw new Error('listeners are shutting down; reload refused')
    if (preparing || outstanding !== undefined) {
      throw new Error('another listener reload is pending; activate or abort it first')
    }
    const limits = next.snapshot.settings.downstream
    const problems = checkLimits(limits)
    if (problems.length > 0) {
      throw new Error(`invalid downstream settings: ${problems.join('; ')}`)
    }
    preparing = true
    const created = new Map<ir.ListenerId, HttpListener<P>>()
    const kept: ir.ListenerId[] = []
    const skipped: ir.ListenerId[] = []
    const served = new Set<ir.ListenerId>()
    const preparedL4 = new Map<ir.ListenerId, PreparedL4>()
    try {
      for (const listener of next.snapshot.listeners) {
        if (served.has(listener.id) || skipped.includes(listener.id)) continue
        if (listener.transport !== 'http') {
          if (deps.l4 === undefined) {
            skipped.push(listener.id)
            continue
          }
          // Reads certificate files: a missing or broken one rejects the whole reload.
          preparedL4.set(listener.id, await deps.l4.prepare(listener))
        }
        served.add(listener.id)
        const bound = active.get(listener.id)
        // A port that changes transport is bound anew, which fails while the old one holds it.
        if (bound !== undefined && (l4.get(bound)?.transport ?? 'http') === listener.transport) {
          kept.push(listener.id)
        } else if (listener.transport === 'http') {
          created.set(listener.id, await bindHttpListener(listener, limits, hooks))
        } else {
          const side = await bindL4Listener(listener, limits, hooks, deps.l4!)
          l4.set(side.http, side)
          created.set(listener.id, side.http)
        }
      }
      for (const listener of deps.sniEgress === undefined
        ? []
        : sniEgressListeners(next.snapshot)) {
        if (served.has(listener.id)) {
          throw new Error(`egress SNI port ${listener.id} is also a Gateway server port`)
        }
        served.add(listener.id)
        preparedL4.set(listener.id, await deps.sniEgress!.prepare(listener))
        const bound = active.get(listener.id)
        if (bound !== undefined && l4.get(bound)?.transport === 'sni-egress') {
          kept.push(listener.id)
        } else {
          const side = await bindL4Listener(listener, limits, hooks, deps.sniEgress!, 'sni-egress')
          l4.set(side.http, side)
          created.set(listener.id, side.http)
        }
      }
      if (shutdown !== undefined) throw new Error('listeners are shutting down; reload refused')
    } catch (err) {
      await closeUnserved(created.values())
      throw err
    } finally {
      preparing = false
    }
    if (skipped.length > 0) {
      log.warn('listeners not served: transport not supported yet', { listeners: skipped })
    }
    const summary: PreparedListeners = Object.freeze({
      added: [...created.keys()],
      kept,
      removed: [...active.keys()].filter((id) => !served.has(id)),
      skipped,
    })
    const set: PendingSet<P> = { next, created, summary, l4: preparedL4 }
    pendingSets.set(summary, set)
    outstanding = set
    return summary
  }

  function activate(prepared: PreparedListeners): void {
    const set = pendingSets.get(prepared)
    if (set === undefined || set !== outstanding) {
      throw new Error('activate: these listeners are not the pending reload (activated or aborted)')
    }
    const settings = set.next.snapshot.settings
    const view: ServeView<P> = createServeView(set.next, settings)
    // Synchronous from here on: no request can observe a half-applied swap.
    for (const id of set.summary.kept) {
      const listener = active.get(id)
      if (listener === undefined) continue
      listener.applyLimits(settings.downstream)
      const prepared = set.l4.get(id)
      if (prepared !== undefined) l4.get(listener)?.use(prepared)
      listener.serve(view)
    }
    for (const [id, listener] of set.created) {
      const prepared = set.l4.get(id)
      if (prepared !== undefined) l4.get(listener)?.use(prepared)
      listener.serve(view)
      active.set(id, listener)
    }
    for (const id of set.summary.removed) {
      const listener = active.get(id)
      if (listener === undefined) continue
      active.delete(id)
      retire(listener, settings.drainTimeoutMs)
    }
    const previous = current
    current = set.next
    servedIds = [...set.summary.kept, ...set.summary.added]
    outstanding = undefined
    if (previous !== undefined) retireIfUnused(previous)
    log.info('listeners activated', {
      snapshot: set.next.snapshot.hash,
      added: set.summary.added,
      kept: set.summary.kept,
      removed: set.summary.removed,
    })
  }

  async function abort(prepared: PreparedListeners): Promise<void> {
    const set = pendingSets.get(prepared)
    if (set === undefined || set !== outstanding) return
    outstanding = undefined
    await closeUnserved(set.created.values())
  }

  /** Listeners never activated: no request was served, so no drain is owed. */
  async function closeUnserved(listeners: Iterable<HttpListener<P>>): Promise<void> {
    const all = [...listeners]
    for (const listener of all) {
      listener.beginDrain()
      listener.destroyConnections()
    }
    await Promise.all(all.map((l) => l.emptied))
    for (const listener of all) disposeListener(listener)
  }

  function disposeListener(listener: HttpListener<P>): void {
    listener.dispose()
    l4.get(listener)?.close()
    l4.delete(listener)
  }

  function retire(listener: HttpListener<P>, timeoutMs: number): void {
    retiring.add(listener)
    listener.beginDrain()
    const timer = setTimeout(() => {
      const forced = listener.destroyConnections()
      if (forced > 0) {
        log.warn('listener drain timed out; connections closed', {
          listener: listener.context.id,
          connections: forced,
        })
      }
    }, timeoutMs)
    timer.unref()
    void listener.emptied.then(() => {
      clearTimeout(timer)
      retiring.delete(listener)
      disposeListener(listener)
      log.info('listener drained', { listener: listener.context.id })
      const servedFrom = listener.servedFrom
      if (servedFrom !== undefined) retireIfUnused(servedFrom)
    })
  }

  /** Tells the owner once no new request can start on `prepared`. */
  function retireIfUnused(prepared: P): void {
    if (prepared === current || retired.has(prepared)) return
    for (const listener of [...active.values(), ...retiring]) {
      if (listener.servedFrom === prepared) return
    }
    retired.add(prepared)
    deps.onRetired?.(prepared)
  }

  async function shutDown(timeoutMs: number): Promise<{ forcedConnections: number }> {
    const pending = outstanding
    outstanding = undefined
    if (pending !== undefined) await closeUnserved(pending.created.values())
    const all = [...active.values(), ...retiring]
    active.clear()
    for (const listener of all) {
      retiring.add(listener)
      listener.beginDrain()
    }
    log.info('listeners draining', { listeners: all.length, timeoutMs })
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs)
    })
    await Promise.race([Promise.all(all.map((l) => l.emptied)), deadline])
    clearTimeout(timer)
    let forcedConnections = 0
    for (const listener of all) forcedConnections += listener.destroyConnections()
    await Promise.all(all.map((l) => l.emptied))
    for (const listener of all) {
      retiring.delete(listener)
      disposeListener(listener)
    }
    const servedFrom = new Set<P>(current === undefined ? [] : [current])
    for (const listener of all) {
      if (listener.servedFrom !== undefined) servedFrom.add(listener.servedFrom)
    }
    for (const prepared of servedFrom) {
      if (retired.has(prepared)) continue
      retired.add(prepared)
      deps.onRetired?.(prepared)
    }
    if (forcedConnections > 0) {
      log.warn('drain timed out; connections closed', { connections: forcedConnections })
    }
    return { forcedConnections }
  }

  function stats(): ListenerStats {
    let connections = 0
    let inflight = 0
    for (const listener of [...active.values(), ...retiring]) {
      const s = listener.stats()
      connections += s.connections
      inflight += s.inflight
    }
    return { listeners: active.size, connections, inflight }
  }

  return {
    prepare,
    activate,
    abort,
    get current() {
      return current
    },
    get ready() {
      return (
        shutdown === undefined &&
        current !== undefined &&
        servedIds.every((id) => active.get(id)?.isListening === true)
      )
    },
    drain(timeoutMs) {
      shutdown ??= shutDown(timeoutMs)
      return shutdown
    },
    stats,
  }
}
