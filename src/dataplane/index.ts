/** The data plane: listeners, the HTTP request path and upstream clusters, behind one facade. */
export { createDataPlane, type DataPlaneDeps } from './create-data-plane.js'
export type { RateLimitDeps } from './http/rate-limit-policy.js'
export type { OverloadSignal } from './http/overload-signal.js'
export type { DataPlane, PreparedChange } from './data-plane.js'
export type { ClusterStatus, EndpointStatus } from './cluster-status.js'
export { assertStrictHttpParser, ListenerBindError } from './listeners/index.js'
export type { AcmeChallengeResponder } from './http/acme-challenge.js'
export type { TracerSource } from './http/steps/trace.js'
