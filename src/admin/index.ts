/**
 * admin/: the readiness, metrics and admin API servers. Reads through runtime/ only; never
 * reaches into the data plane.
 */
export { createAdminApi } from './api.js'
export { createMetricsServer, METRICS_PATH, type MetricsSource } from './metrics-server.js'
export {
  createReadinessServer,
  READINESS_PATH,
  readinessOf,
  type ReadinessSource,
} from './readiness-server.js'
export {
  endpointsOf,
  startAdminServers,
  startMetricsServer,
  startReadinessServer,
  type AdminServerDeps,
  type AdminServerKind,
  type AdminServers,
  type Endpoint,
} from './servers.js'
