/**
 * telemetry.istio.io/v1 Telemetry (telemetry/v1/telemetry.proto): its tracing part chooses the
 * extension provider spans go to, the sampling percentage and custom tags. Without a mesh the
 * resource applies to this gateway, so workload selection is reported rather than acted on.
 */
import {
  any,
  arr,
  bool,
  enumOf,
  map,
  mesh,
  noted,
  num,
  obj,
  planned,
  req,
  str,
  type Infer,
} from './dsl.js'

const customTag = obj(
  {
    literal: obj({ value: req(str()) }, { name: 'Literal' }),
    environment: obj(
      { name: req(str({ nonEmpty: true })), defaultValue: str() },
      { name: 'Environment' },
    ),
    header: obj(
      { name: req(str({ nonEmpty: true })), defaultValue: str() },
      { name: 'RequestHeader' },
    ),
  },
  { name: 'CustomTag', oneOf: [['literal', 'environment', 'header']] },
)

const tracing = obj(
  {
    match: planned(
      obj({ mode: enumOf(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER']) }),
      'the gateway reports one SERVER span per request whatever the mode',
    ),
    providers: noted(
      arr(obj({ name: req(str({ nonEmpty: true })) }, { name: 'ProviderRef' })),
      'names of GatewayConfig extensionProviders (opentelemetry or zipkin); every one listed gets the spans',
    ),
    randomSamplingPercentage: noted(
      num({ min: 0, max: 100 }),
      'default 1: requests without a sampled parent that start a sampled trace; a parent that says sampled (or not) decides',
    ),
    disableSpanReporting: noted(bool(), 'true: context is still propagated, nothing is exported'),
    customTags: map(customTag),
    useRequestIdForTraceSampling: planned(bool(), 'sampling is random per request'),
    enableIstioTags: planned(bool(), 'the Istio tags are always added'),
  },
  { name: 'Tracing' },
)

export const telemetrySpec = obj(
  {
    selector: mesh(
      obj({ matchLabels: map(str()) }),
      'selects mesh workloads; here the Telemetry applies to the whole gateway',
    ),
    targetRef: mesh(
      any('PolicyTargetReference'),
      'here the Telemetry applies to the whole gateway',
    ),
    targetRefs: mesh(
      any('PolicyTargetReference[]'),
      'here the Telemetry applies to the whole gateway',
    ),
    tracing: arr(tracing),
    metrics: planned(any('Metrics[]'), 'istio_* metrics are always on (docs/diagnostics.md)'),
    accessLogging: planned(
      any('AccessLogging[]'),
      'use GatewayConfig accessLog for the access log',
    ),
  },
  { name: 'Telemetry' },
)
export type TelemetrySpec = Infer<typeof telemetrySpec>
