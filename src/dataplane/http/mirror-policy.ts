import type { ClusterRuntime } from '../upstream/cluster-runtime.js'

/** One mirror of a route, prepared per snapshot. */
export interface PreparedMirror {
  /** Undefined when the mirror's cluster is not in the snapshot: nothing is sent. */
  readonly cluster: ClusterRuntime | undefined
  readonly percent: number
  readonly hostSuffix: string
}
