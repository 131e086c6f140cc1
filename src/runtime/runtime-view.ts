/**
 * What admin/ and the readiness endpoint may see and do: read the active snapshot and the last
 * reload, ask for a reload, read data-plane counters. Nothing here reaches data-plane internals.
 */
import type {
  EgressObservation,
  EgressObservationKind,
  EgressObservationReader,
} from '../observe/index.js'
import type { ClusterStatus, DataPlanePort, DataPlaneStats } from './data-plane-port.js'
import type { Reloader } from './reloader.js'
import type { ReloadOutcome, SnapshotView } from './snapshot-store.js'

export interface RuntimeView {
  readonly snapshots: SnapshotView
  /** A snapshot is active, every listener is bound, no drain has begun and no overload. */
  isReady(): boolean
  /** The overload guard is shedding new requests. */
  isOverloaded(): boolean
  stats(): DataPlaneStats
  /** The active snapshot's clusters and their endpoints' live state; [] without a data plane that keeps them. */
  clusters(): readonly ClusterStatus[]
  reload(): Promise<ReloadOutcome>
  /** Recent egress destinations refused (denied) or let out without a ServiceEntry (observed). */
  egressObservations(kind: EgressObservationKind): EgressObservation[]
  /** ACME Certificates as this replica sees them; [] without any. */
  acmeCertificates?(): readonly AcmeCertificateView[]
}

/** One ACME Certificate's state (acme/ CertificateStatus), for the admin /certs view. */
export interface AcmeCertificateView {
  readonly certificate: string
  readonly issuer: string
  readonly dnsNames: readonly string[]
  readonly state: string
  readonly notAfter?: string
  readonly serial?: string
  readonly renewAt?: string
  readonly nextAttempt?: string
  readonly failures?: number
  readonly lastError?: string
}

export function createRuntimeView(deps: {
  readonly snapshots: SnapshotView
  readonly dataPlane: Pick<DataPlanePort, 'ready' | 'stats'> &
    Partial<Pick<DataPlanePort, 'clusters'>>
  readonly reloader: Pick<Reloader, 'reload'>
  readonly egress?: EgressObservationReader
  readonly overload?: { readonly isOverloaded: boolean }
  readonly acme?: { list(): readonly AcmeCertificateView[] }
}): RuntimeView {
  const { snapshots, dataPlane, reloader, egress, overload, acme } = deps
  const isOverloaded = (): boolean => overload?.isOverloaded === true
  return {
    snapshots,
    isReady: () =>
      !snapshots.isDraining && snapshots.active !== undefined && dataPlane.ready && !isOverloaded(),
    isOverloaded,
    stats: () => dataPlane.stats(),
    clusters: () => dataPlane.clusters?.() ?? [],
    reload: () => reloader.reload('admin'),
    egressObservations: (kind) => egress?.list(kind) ?? [],
    acmeCertificates: () => acme?.list() ?? [],
  }
}
