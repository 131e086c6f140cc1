/**
 * What the runtime drives: the data plane's facade, by its own contract (dataplane/data-plane.ts).
 * Runtime code and tests name it DataPlanePort; tests hand in small fakes of the same shape.
 */
import type { ClusterStatus, DataPlane, PreparedChange } from '../dataplane/index.js'

export type DataPlanePort = DataPlane
export type { ClusterStatus, PreparedChange }
export type DataPlaneStats = ReturnType<DataPlane['stats']>
