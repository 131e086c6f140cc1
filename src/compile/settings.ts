/** GatewayConfig → ir.GatewaySettings, with every default filled in (docs/configuration.md). */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

// Off unless asked for, as Envoy's overload manager and Istio's gateways: a false positive at the
// edge refuses healthy traffic. 200ms is the bound docs/limits.md recommends.
export const DEFAULT_OVERLOAD: ir.OverloadSettings = {
  maxEventLoopDelayMs: 0,
  maxActiveRequests: 0,
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
    // nginx's request-line buffer (large_client_header_buffers 8k).
    maxUriBytes: 8192,
    maxRequestsPerConnection: 1000,
    headersWithUnderscores: 'REJECT',
    streamIdleTimeoutMs: 60_000,
    // Kestrel's MinRequestBodyDataRate: a 2 kbit/s link passes, a byte every few seconds does not.
    minRequestBodyRate: 240,
    minRequestBodyRateWindowMs: 10_000,
  },
  numTrustedProxies: 0,
  // Istio's default for gateways (sidecars default to APPEND_FORWARD).
  forwardClientCertDetails: 'SANITIZE_SET',
  serverHeader: 'istio-envoy',
  labels: {},
  // Istio's DEFAULT.
  pathNormalization: 'BASE',
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
      maxUriBytes: ds?.maxUriBytes ?? dl.maxUriBytes,
      maxRequestsPerConnection: ds?.maxRequestsPerConnection ?? dl.maxRequestsPerConnection,
      headersWithUnderscores: ds?.headersWithUnderscores ?? dl.headersWithUnderscores,
      streamIdleTimeoutMs: ds?.streamIdleTimeout ?? dl.streamIdleTimeoutMs,
      minRequestBodyRate: ds?.minRequestBodyRate ?? dl.minRequestBodyRate,
      minRequestBodyRateWindowMs: ds?.minRequestBodyRateWindow ?? dl.minRequestBodyRateWindowMs,
      ...(ds?.maxConnections !== undefined ? { maxConnections: ds.maxConnections } : {}),
      ...(ds?.maxConnectionsPerClient !== undefined
        ? { maxConnectionsPerClient: ds.maxConnectionsPerClient }
        : {}),
      ...(s.gatewayTopology?.proxyProtocol !== undefined
        ? { proxyProtocol: compileProxyProtocol(s.gatewayTopology.proxyProtocol) }
        : {}),
    },
    // The top-level field is an alias; config/ refuses the two set to different values.
    numTrustedProxies:
      s.gatewayTopology?.numTrustedProxies ?? s.numTrustedProxies ?? d.numTrustedProxies,
    forwardClientCertDetails: forwardClientCert(s.gatewayTopology?.forwardClientCertDetails),
    // An explicit empty string turns the header off.
    serverHeader: s.serverHeader === '' ? undefined : (s.serverHeader ?? d.serverHeader),
    labels: { ...(s.labels ?? {}) },
    pathNormalization: pathNormalizationOf(s.pathNormalization?.normalization),
    ...(s.redis !== undefined ? { redis: compileRedis(s.redis) } : {}),
    ...(s.workers !== undefined ? { workers: s.workers } : {}),
    overload: {
      maxEventLoopDelayMs: s.overload?.maxEventLoopDelay ?? DEFAULT_OVERLOAD.maxEventLoopDelayMs,
      maxActiveRequests: s.overload?.maxActiveRequests ?? DEFAULT_OVERLOAD.maxActiveRequests,
      retryAfterSeconds: Math.ceil(
        (s.overload?.retryAfter ?? DEFAULT_OVERLOAD.retryAfterSeconds * 1000) / 1000,
      ),
    },
  }
}

function forwardClientCert(
  mode: NonNullable<istio.GatewayConfigSpec['gatewayTopology']>['forwardClientCertDetails'],
): ir.ForwardClientCertDetails {
  // UNDEFINED is Istio's "not set".
  return mode === undefined || mode === 'UNDEFINED'
    ? DEFAULT_SETTINGS.forwardClientCertDetails
    : mode
}

/** Istio's `proxyProtocol: {}` means every connection carries a header: every source is trusted. */
const ANY_SOURCE = ['0.0.0.0/0', '::/0']
const PROXY_HEADER_TIMEOUT_MS = 5_000

function compileProxyProtocol(
  p: NonNullable<NonNullable<istio.GatewayConfig['spec']['gatewayTopology']>['proxyProtocol']>,
): ir.ProxyProtocolSettings {
  return {
    trustedCidrs: p.trustedCidrs !== undefined ? [...p.trustedCidrs] : ANY_SOURCE,
    ...(p.ports !== undefined ? { ports: [...new Set(p.ports)].sort((a, b) => a - b) } : {}),
    headerTimeoutMs: p.headerTimeout ?? PROXY_HEADER_TIMEOUT_MS,
  }
}

/** Istio's DEFAULT is BASE under another name. */
function pathNormalizationOf(
  mode: 'NONE' | 'BASE' | 'DEFAULT' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES' | undefined,
): ir.GatewaySettings['pathNormalization'] {
  return mode === undefined || mode === 'DEFAULT' ? DEFAULT_SETTINGS.pathNormalization : mode
}

function compileRedis(r: istio.RedisSettingsSpec): ir.RedisStoreSettings {
  const { commandTimeout, connectTimeout, leaseTtl, acme, ...rest } = r
  return {
    ...rest,
    ...(acme !== undefined ? { acme: compileRedisAcme(acme) } : {}),
    ...(leaseTtl !== undefined ? { leaseTtlMs: leaseTtl } : {}),
    ...(commandTimeout !== undefined ? { commandTimeoutMs: commandTimeout } : {}),
    ...(connectTimeout !== undefined ? { connectTimeoutMs: connectTimeout } : {}),
  }
}

function compileRedisAcme(a: NonNullable<istio.RedisSettingsSpec['acme']>) {
  return {
    ...(a.encryptionKeyFile !== undefined ? { encryptionKeyFile: a.encryptionKeyFile } : {}),
    ...(a.lockTtl !== undefined ? { lockTtlMs: a.lockTtl } : {}),
  }
}
