/**
 * Joins the listener layer and the HTTP request path into the DataPlane the runtime drives.
 * prepare = compile matchers and attach clusters (prepareSnapshot) + bind new ports; activate =
 * the listener manager's one swap; a snapshot's clusters are released only once no request can
 * start on it any more (onRetired), so pools are never closed under in-flight requests.
 */
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import type { ConnectionObserver, EgressObserver, RequestObserver } from '../observe/events.js'
import type { DataPlane, PreparedChange } from './data-plane.js'
import { createOutboundProxy, type PreparedOutbound } from './egress/outbound-proxy.js'
import { createSniEgressSupport } from './egress/sni-egress.js'
import type { AcmeChallengeResponder } from './http/acme-challenge.js'
import type { AcmeAlpnResponder } from './tls/acme-alpn.js'
import { createHttpHandler } from './http/handler.js'
import type { OverloadSignal } from './http/overload-signal.js'
import type { RateLimitDeps } from './http/rate-limit-policy.js'
import type { TracerSource } from './http/steps/trace.js'
import { createConnectionErrorReporter } from './listeners/connection-errors.js'
import { createListenerManager, type PreparedListeners } from './listeners/index.js'
import { clusterStatuses } from './cluster-status.js'
import { prepareSnapshot, releaseSnapshot } from './http/prepare-snapshot.js'
import type { PreparedSnapshot } from './prepared.js'
import { createL4Support } from './tls/index.js'
import { createUpstreamRegistry, type UpstreamRegistryOptions } from './upstream/registry.js'

export interface DataPlaneDeps {
  readonly observer: RequestObserver
  readonly log: Logger
  /** Egress allowlist decisions (metrics, the admin API's recent destinations). */
  readonly egress?: EgressObserver
  /** Upstream pool and DNS options (tests point DNS at a local server). */
  readonly upstream?: Omit<UpstreamRegistryOptions, 'log'>
  /** The limit store (state/ports) RateLimitPolicies count in; without it they are not enforced. */
  readonly limits?: RateLimitDeps
  /** Downstream connections closed by an error, failed TLS handshakes (metrics). */
  readonly connections?: ConnectionObserver
  /** The overload guard's state; without it requests are never shed. */
  readonly overload?: OverloadSignal
  /** ACME http-01 answers, consulted before routing on plain-HTTP listeners. */
  readonly acmeChallenges?: AcmeChallengeResponder
  /** Tracers for the snapshots' tracing plans; without it nothing is traced. */
  readonly tracing?: TracerSource
  /** ACME tls-alpn-01 challenges, answered on TLS listeners from the ClientHello. */
  readonly acmeAlpn?: AcmeAlpnResponder
}

interface Change extends PreparedChange {
  readonly prepared: PreparedSnapshot
  readonly listeners: PreparedListeners
  readonly outbound: PreparedOutbound
}

export function createDataPlane(deps: DataPlaneDeps): DataPlane {
  const upstreams = createUpstreamRegistry({ ...deps.upstream, log: deps.log })
  const handler = createHttpHandler({
    observer: deps.observer,
    log: deps.log,
    upstreams,
    ...(deps.overload !== undefined ? { overload: deps.overload } : {}),
    ...(deps.acmeChallenges !== undefined ? { acmeChallenges: deps.acmeChallenges } : {}),
    ...(deps.egress !== undefined ? { egress: deps.egress } : {}),
    ...(deps.upstream?.dns?.servers !== undefined ? { dnsServers: deps.upstream.dns.servers } : {}),
  })
  const limitObserver = deps.limits?.observer
  const listeners = createListenerManager<PreparedSnapshot>({
    handler,
    ...(limitObserver?.onConnectionRefused !== undefined
      ? { onConnectionRefused: limitObserver.onConnectionRefused.bind(limitObserver) }
      : {}),
    // The limiter that makes connection-pool limits cluster-wide does the same for downstream caps.
    ...(deps.upstream?.shared !== undefined ? { sharedCaps: deps.upstream.shared } : {}),
    observer: deps.observer,
    log: deps.log,
    ...(deps.connections !== undefined ? { connections: deps.connections } : {}),
    onRetired: (prepared) => releaseSnapshot(prepared, upstreams),
    l4: createL4Support<PreparedSnapshot>({
      log: deps.log,
      observer: deps.observer,
      ...(deps.connections !== undefined ? { connections: deps.connections } : {}),
      pickEndpoint: (prepared, cluster) => prepared.clusters.get(cluster)?.pick(undefined),
      ...(deps.acmeAlpn !== undefined ? { acmeAlpn: deps.acmeAlpn } : {}),
    }),
    sniEgress: createSniEgressSupport<PreparedSnapshot>({
      observer: deps.observer,
      log: deps.log,
      ...(deps.egress !== undefined ? { egress: deps.egress } : {}),
      ...(deps.upstream?.dns?.servers !== undefined
        ? { dnsServers: deps.upstream.dns.servers }
        : {}),
    }),
  })
  const outbound = createOutboundProxy({
    handler,
    observer: deps.observer,
    log: deps.log,
    // The outbound listener is a listener of the same front door: the same refusal metrics,
    // shared caps and connection-error reporting as the Gateway's.
    front: {
      ...(limitObserver?.onConnectionRefused !== undefined
        ? { onConnectionRefused: limitObserver.onConnectionRefused.bind(limitObserver) }
        : {}),
      ...(deps.upstream?.shared !== undefined ? { sharedCaps: deps.upstream.shared } : {}),
      connectionErrors: createConnectionErrorReporter(deps.log, deps.connections),
    },
    ...(deps.egress !== undefined ? { egress: deps.egress } : {}),
    ...(deps.upstream?.dns?.servers !== undefined ? { dnsServers: deps.upstream.dns.servers } : {}),
  })
  const pending = new WeakSet<PreparedChange>()

  const asChange = (c: PreparedChange): Change => {
    if (!pending.has(c))
      throw new Error('this change was not prepared by this data plane, or was already used')
    pending.delete(c)
    return c as Change
  }

  return {
    async prepare(snapshot: ir.Snapshot): Promise<PreparedChange> {
      const prepared = prepareSnapshot(snapshot, upstreams, deps.limits, deps.tracing)
      let bound: PreparedListeners
      try {
        bound = await listeners.prepare(prepared)
      } catch (e) {
        releaseSnapshot(prepared, upstreams)
        throw e
      }
      let egress: PreparedOutbound
      try {
        egress = await outbound.prepare(prepared)
      } catch (e) {
        // The other listeners are bound by now: close them too, or they leak and the listener
        // manager refuses every later reload as still pending.
        await listeners.abort(bound)
        releaseSnapshot(prepared, upstreams)
        throw e
      }
      const change: Change = { snapshot, prepared, listeners: bound, outbound: egress }
      pending.add(change)
      return change
    },
    activate(change: PreparedChange): void {
      const c = asChange(change)
      listeners.activate(c.listeners)
      outbound.activate(c.outbound)
    },
    async abort(change: PreparedChange): Promise<void> {
      const c = asChange(change)
      await listeners.abort(c.listeners)
      await outbound.abort(c.outbound)
      releaseSnapshot(c.prepared, upstreams)
    },
    get current() {
      return listeners.current?.snapshot
    },
    get ready() {
      return listeners.ready
    },
    async drain(timeoutMs: number) {
      const result = await listeners.drain(timeoutMs)
      await outbound.close()
      await upstreams.close()
      return result
    },
    clusters() {
      return clusterStatuses(listeners.current, Date.now())
    },
    stats() {
      return listeners.stats()
    },
  }
}
