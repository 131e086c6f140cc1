/** networking.istio.io DestinationRule (destination_rule.proto). */
import {
  arr,
  bool,
  deprecated,
  duration,
  enumOf,
  int,
  map,
  mesh,
  noted,
  num,
  obj,
  planned,
  port,
  req,
  str,
  type Infer,
} from './dsl.js'
import { int32NonNeg, portSelector } from './common.js'

const POLICY_LATER = 'traffic policies arrive with the upstream-policy work; subsets work today'
const u32 = int({ min: 0, max: 4294967295 })

const consistentHash = obj(
  {
    httpHeaderName: str(),
    httpCookie: obj(
      {
        name: req(str()),
        path: str(),
        ttl: duration({ minMs: 0 }),
        attributes: arr(obj({ name: req(str()), value: str() })),
      },
      { name: 'HTTPCookie' },
    ),
    useSourceIp: bool(),
    httpQueryParameterName: str(),
    ringHash: obj({ minimumRingSize: u32 }, { name: 'RingHash' }),
    maglev: obj({ tableSize: u32 }, { name: 'MagLev' }),
    minimumRingSize: deprecated(u32, 'use ringHash.minimumRingSize'),
  },
  {
    name: 'ConsistentHashLB',
    oneOf: [
      ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
      ['ringHash', 'maglev'],
    ],
  },
)

const localityLbSetting = obj(
  {
    distribute: arr(obj({ from: str(), to: map(u32) })),
    failover: arr(obj({ from: str(), to: str() })),
    failoverPriority: arr(str()),
    enabled: bool(),
  },
  { name: 'LocalityLoadBalancerSetting', oneOf: [['distribute', 'failover', 'failoverPriority']] },
)

const loadBalancer = obj(
  {
    simple: enumOf([
      'UNSPECIFIED',
      'LEAST_CONN',
      'RANDOM',
      'PASSTHROUGH',
      'ROUND_ROBIN',
      'LEAST_REQUEST',
    ]),
    consistentHash,
    localityLbSetting,
    zoneAwareLbSetting: obj({
      enabled: bool(),
      failover: arr(str()),
      failoverPriority: arr(str()),
      minClusterSize: u32,
    }),
    warmupDurationSecs: deprecated(duration(), 'use warmup.duration'),
    warmup: obj({
      duration: req(duration()),
      minimumPercent: num({ min: 0, max: 100 }),
      aggression: num({ min: 1 }),
    }),
  },
  {
    name: 'LoadBalancerSettings',
    oneOf: [
      ['simple', 'consistentHash'],
      ['localityLbSetting', 'zoneAwareLbSetting'],
    ],
  },
)

const connectionPool = obj(
  {
    tcp: obj(
      {
        maxConnections: int32NonNeg,
        connectTimeout: duration(),
        tcpKeepalive: obj(
          { probes: u32, time: duration(), interval: duration() },
          { name: 'TcpKeepalive' },
        ),
        maxConnectionDuration: duration(),
        idleTimeout: duration({ minMs: 0 }),
      },
      { name: 'TCPSettings' },
    ),
    http: obj(
      {
        http1MaxPendingRequests: int32NonNeg,
        http2MaxRequests: int32NonNeg,
        maxRequestsPerConnection: int32NonNeg,
        maxRetries: int32NonNeg,
        idleTimeout: duration({ minMs: 0 }),
        h2UpgradePolicy: enumOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']),
        useClientProtocol: bool(),
        maxConcurrentStreams: int32NonNeg,
        http2KeepAlive: obj({ interval: duration(), timeout: duration() }),
      },
      { name: 'HTTPSettings' },
    ),
  },
  { name: 'ConnectionPoolSettings' },
)

const outlierDetection = obj(
  {
    splitExternalLocalOriginErrors: bool(),
    consecutiveLocalOriginFailures: u32,
    consecutiveGatewayErrors: u32,
    consecutive5xxErrors: u32,
    consecutiveErrors: deprecated(int32NonNeg, 'use consecutive5xxErrors'),
    interval: duration(),
    baseEjectionTime: duration(),
    maxEjectionPercent: int({ min: 0, max: 100 }),
    minHealthPercent: int({ min: 0, max: 100 }),
    outlierDetectionHttpErrorCodes: arr(int({ min: 100, max: 599 })),
  },
  { name: 'OutlierDetection' },
)

const clientTls = obj(
  {
    mode: noted(
      enumOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'], {
        meshOnly: {
          ISTIO_MUTUAL:
            'needs Istio mesh certificates (SPIFFE identities) that a standalone gateway does not have; use MUTUAL with clientCertificate/privateKey or credentialName',
        },
        meshError: true,
      }),
      'ISTIO_MUTUAL needs mesh certificates and is refused (error PC1113)',
    ),
    clientCertificate: str(),
    privateKey: str(),
    caCertificates: str(),
    credentialName: str(),
    subjectAltNames: arr(str()),
    sni: str(),
    insecureSkipVerify: bool(),
    caCrl: str(),
  },
  { name: 'ClientTLSSettings' },
)

const trafficPolicyFields = {
  loadBalancer,
  connectionPool,
  outlierDetection,
  tls: clientTls,
}

const portTrafficPolicy = obj(
  { port: portSelector, ...trafficPolicyFields },
  { name: 'PortTrafficPolicy' },
)

const trafficPolicy = planned(
  obj(
    {
      ...trafficPolicyFields,
      portLevelSettings: arr(portTrafficPolicy, { max: 4096 }),
      tunnel: obj({
        protocol: enumOf(['CONNECT', 'POST']),
        targetHost: req(str()),
        targetPort: req(port()),
      }),
      proxyProtocol: obj({ version: enumOf(['V1', 'V2']) }),
      retryBudget: obj({
        percent: obj({ value: num({ min: 0, max: 100 }) }),
        minRetryConcurrency: u32,
      }),
    },
    { name: 'TrafficPolicy' },
  ),
  POLICY_LATER,
)

export const subset = obj(
  {
    name: req(str({ nonEmpty: true })),
    labels: map(str()),
    trafficPolicy,
  },
  { name: 'Subset' },
)

export const destinationRuleSpec = obj(
  {
    host: req(str({ nonEmpty: true })),
    trafficPolicy,
    subsets: arr(subset),
    exportTo: arr(str()),
    workloadSelector: mesh(
      obj({ matchLabels: map(str()) }),
      'selects mesh workloads; at a standalone gateway the rule applies to all traffic',
    ),
  },
  { name: 'DestinationRule' },
)
export type DestinationRuleSpec = Infer<typeof destinationRuleSpec>
