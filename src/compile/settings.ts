/** GatewayConfig → ir.GatewaySettings, with every default filled in (docs/configuration.md). */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

export const DEFAULT_OVERLOAD: ir.OverloadSettings = {
  maxEventLoopDelayMs: 200,
  retryAfterSeconds: 1,
}

export const DEFAULT_SETTINGS: ir.GatewaySettings = {
  bindAddress: '0.0.0.0',
  admin: { address: '127.0.0.1', port: 15000 },
  // Istio's gateway conventions: readiness on :15021/healthz/ready, Prometheus on :15090.
  readiness: { address: '0.0.0.0', port: 15021 },
  metrics: { address: '0.0.0.0', port: 15090 },
  // An empty format means Istio's default access log format; observe/ fills it in.
  accessLog: { disabled: false, path: '/dev/stdout', format: '', encoding: 'TEXT' },
  drainTimeoutMs: 25_000,
  downstream: {
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 300_000,
    idleTimeoutMs: 60_000,
    maxHeaderBytes: 16_384,
    maxHeaderCount: 100,
    maxRequestsPerConnection: 1000,
    headersWithUnderscores: 'REJECT',
  },
  numTrustedProxies: 0,
  serverHeader: 'istio-envoy',
  labels: {},
  overload: DEFAULT_OVERLOAD,
}

export function compileSettings(config: istio.GatewayConfig | undefined): ir.GatewaySettings {
  const d = DEFAULT_SETTINGS
  if (config === undefined) return d
  const s = config.spec
  const bindAddress = s.bindAddress ?? d.bindAddress
  const dl = d.downstream
  const ds = s.downstream
  return {
    bindAddress,
    admin: {
      address: s.admin?.address ?? d.admin.address,
      port: s.admin?.port ?? d.admin.port,
    },
    // Readiness and metrics are for probes and scrapers from outside, so they follow bindAddress.
    readiness: { address: bindAddress, port: s.readiness?.port ?? d.readiness.port },
    metrics: { address: bindAddress, port: s.metrics?.port ?? d.metrics.port },
    accessLog: {
      disabled: s.accessLog?.disabled ?? d.accessLog.disabled,
      path: s.accessLog?.path ?? d.accessLog.path,
      format: s.accessLog?.format ?? d.accessLog.format,
      encoding: s.accessLog?.encoding ?? d.accessLog.encoding,
    },
    drainTimeoutMs: s.drainTimeout ?? d.drainTimeoutMs,
    downstream: {
      headersTimeoutMs: ds?.headersTimeout ?? dl.headersTimeoutMs,
      requestTimeoutMs: ds?.requestTimeout ?? dl.requestTimeoutMs,
      idleTimeoutMs: ds?.idleTimeout ?? dl.idleTimeoutMs,
      maxHeaderBytes: ds?.maxHeaderBytes ?? dl.maxHeaderBytes,
      maxHeaderCount: ds?.maxHeaderCount ?? dl.maxHeaderCount,
      maxRequestsPerConnection: ds?.maxRequestsPerConnection ?? dl.maxRequestsPerConnection,
      headersWithUnderscores: ds?.headersWithUnderscores ?? dl.headersWithUnderscores,
      ...(ds?.maxConnections !== undefined ? { maxConnections: ds.maxConnections } : {}),
      ...(ds?.maxConnectionsPerClient !== undefined
        ? { maxConnectionsPerClient: ds.maxConnectionsPerClient }
        : {}),
    },
    numTrustedProxies: s.numTrustedProxies ?? d.numTrustedProxies,
    // An explicit empty string turns the header off.
    serverHeader: s.serverHeader === '' ? undefined : (s.serverHeader ?? d.serverHeader),
    labels: { ...(s.labels ?? {}) },
    ...(s.redis !== undefined ? { redis: compileRedis(s.redis) } : {}),
    ...(s.workers !== undefined ? { workers: s.workers } : {}),
    overload: {
      maxEventLoopDelayMs: s.overload?.maxEventLoopDelay ?? DEFAULT_OVERLOAD.maxEventLoopDelayMs,
      retryAfterSeconds: Math.ceil(
        (s.overload?.retryAfter ?? DEFAULT_OVERLOAD.retryAfterSeconds * 1000) / 1000,
      ),
    },
  }
}

function compileRedis(r: istio.RedisSettingsSpec): ir.RedisStoreSettings {
  const { commandTimeout, connectTimeout, leaseTtl, ...rest } = r
  return {
    ...rest,
    ...(leaseTtl !== undefined ? { leaseTtlMs: leaseTtl } : {}),
    ...(commandTimeout !== undefined ? { commandTimeoutMs: commandTimeout } : {}),
    ...(connectTimeout !== undefined ? { connectTimeoutMs: connectTimeout } : {}),
  }
}
