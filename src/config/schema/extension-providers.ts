/**
 * meshConfig.extensionProviders as GatewayConfig.spec.extensionProviders: the tracing backends a
 * Telemetry resource names. Shapes follow istio/api mesh/v1alpha1/config.proto; the providers
 * that need a mesh or another vendor's agent are accepted and reported, never ignored silently.
 */
import { any, duration, enumOf, noted, obj, planned, port, req, str, type Infer } from './dsl.js'

const service = noted(
  str({ nonEmpty: true }),
  'host name or IP address of the collector (a Kubernetes service name outside a cluster needs DNS)',
)

const opentelemetry = obj(
  {
    service: req(service),
    port: req(port()),
    maxTagLength: planned(port(), 'tags are exported whole'),
    http: noted(
      obj(
        {
          path: noted(str({ nonEmpty: true }), 'default /v1/traces'),
          timeout: noted(duration({ minMs: 1 }), 'default 10s, per export request'),
          headers: planned(any('HeaderValue[]'), 'no extra export headers yet'),
        },
        { name: 'HttpService' },
      ),
      'OTLP/HTTP with JSON bodies; without http the provider would be gRPC, which is not served here',
    ),
    grpc: planned(any('GrpcService'), 'OTLP over gRPC: set http instead'),
    resourceDetectors: planned(any('ResourceDetectors'), 'service.name comes from GatewayConfig'),
    dynatraceSampler: planned(
      any('DynatraceSampler'),
      'Telemetry randomSamplingPercentage samples',
    ),
  },
  { name: 'OpenTelemetryTracingProvider' },
)

const zipkin = obj(
  {
    service: req(service),
    port: req(port()),
    maxTagLength: planned(port(), 'tags are exported whole'),
    enable64bitTraceId: planned(any('bool'), 'trace ids are 128 bits'),
    path: noted(str({ nonEmpty: true }), 'default /api/v2/spans'),
    traceContextOption: noted(
      enumOf(['USE_B3', 'USE_B3_WITH_W3C_PROPAGATION']),
      'default USE_B3: B3 read and written; USE_B3_WITH_W3C_PROPAGATION adds W3C traceparent',
    ),
    timeout: noted(duration({ minMs: 1 }), 'default 10s, per export request'),
    headers: planned(any('HeaderValue[]'), 'no extra export headers yet'),
  },
  { name: 'ZipkinTracingProvider' },
)

const unsupported = (type: string) => planned(any(type), 'only opentelemetry and zipkin are served')

export const extensionProvider = obj(
  {
    name: req(str({ nonEmpty: true })),
    opentelemetry,
    zipkin,
    datadog: unsupported('DatadogTracingProvider'),
    skywalking: unsupported('SkyWalkingTracingProvider'),
    stackdriver: unsupported('StackdriverProvider'),
    lightstep: unsupported('LightstepTracingProvider'),
    envoyExtAuthzHttp: unsupported('EnvoyExternalAuthorizationHttpProvider'),
    envoyExtAuthzGrpc: unsupported('EnvoyExternalAuthorizationGrpcProvider'),
    envoyHttpAls: unsupported('EnvoyHttpGrpcV3LogProvider'),
    envoyTcpAls: unsupported('EnvoyTcpGrpcV3LogProvider'),
    envoyOtelAls: unsupported('EnvoyOpenTelemetryLogProvider'),
    envoyFileAccessLog: unsupported('EnvoyFileAccessLogProvider'),
    prometheus: unsupported('PrometheusMetricsProvider'),
    sds: unsupported('SDSProvider'),
  },
  {
    name: 'ExtensionProvider',
    oneOf: [
      [
        'opentelemetry',
        'zipkin',
        'datadog',
        'skywalking',
        'stackdriver',
        'lightstep',
        'envoyExtAuthzHttp',
        'envoyExtAuthzGrpc',
        'envoyHttpAls',
        'envoyTcpAls',
        'envoyOtelAls',
        'envoyFileAccessLog',
        'prometheus',
        'sds',
      ],
    ],
  },
)
export type ExtensionProviderSpec = Infer<typeof extensionProvider>
