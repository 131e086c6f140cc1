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
  partial,
  planned,
  port,
  req,
  str,
  type Infer,
} from './dsl.js'
import { int32NonNeg, portSelector } from './common.js'

const H2_LATER = 'HTTP/2 keepalive pings to upstreams are not sent yet'
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
    ringHash: noted(
      obj({ minimumRingSize: u32 }, { name: 'RingHash' }),
      'a hash ring of this size; a key moves only when its endpoint leaves',
    ),
    maglev: partial(
      obj({ tableSize: u32 }, { name: 'MagLev' }),
      'served by the same hash ring as ringHash (tableSize entries): keys stick the same way, the spread differs from Envoy maglev',
    ),
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
    simple: noted(
      enumOf([
        'UNSPECIFIED',
        'LEAST_CONN',
        'RANDOM',
        'PASSTHROUGH',
        'ROUND_ROBIN',
        'LEAST_REQUEST',
      ]),
      'PASSTHROUGH balances like ROUND_ROBIN over the ServiceEntry endpoints',
    ),
    consistentHash,
    localityLbSetting: planned(
      localityLbSetting,
      'endpoints have no locality preference yet; all are balanced together',
    ),
    zoneAwareLbSetting: planned(
      obj({
        enabled: bool(),
        failover: arr(str()),
        failoverPriority: arr(str()),
        minClusterSize: u32,
      }),
      'endpoints have no zones yet; all are balanced together',
    ),
    warmupDurationSecs: deprecated(
      planned(duration(), 'new endpoints get their full share at once'),
      'use warmup.duration',
    ),
    warmup: planned(
      obj({
        duration: req(duration()),
        minimumPercent: num({ min: 0, max: 100 }),
        aggression: num({ min: 1 }),
      }),
      'new endpoints get their full share at once (no slow start)',
    ),
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
        tcpKeepalive: partial(
          obj({ probes: u32, time: duration(), interval: duration() }, { name: 'TcpKeepalive' }),
          'time sets the first probe delay; Node does not expose probes and interval (OS defaults)',
        ),
        maxConnectionDuration: planned(duration(), 'upstream connections are not aged out yet'),
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
        http2KeepAlive: planned(obj({ interval: duration(), timeout: duration() }), H2_LATER),
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
    outlierDetectionHttpErrorCodes: planned(
      arr(int({ min: 100, max: 599 })),
      'errors are the 5xx statuses (gateway errors: 502, 503, 504)',
    ),
  },
  { name: 'OutlierDetection' },
)

const clientTls = obj(
  {
    mode: noted(
      enumOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']),
      'ISTIO_MUTUAL originates mTLS with GatewayConfig spec.meshIdentity; without its files it is refused (error PC1113)',
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

const trafficPolicy = obj(
  {
    ...trafficPolicyFields,
    portLevelSettings: arr(portTrafficPolicy, { max: 4096 }),
    tunnel: planned(
      obj({
        protocol: enumOf(['CONNECT', 'POST']),
        targetHost: req(str()),
        targetPort: req(port()),
      }),
      'upstream tunnelling is not implemented',
    ),
    proxyProtocol: planned(
      obj({ version: enumOf(['V1', 'V2']) }),
      'PROXY protocol towards upstreams is not implemented',
    ),
    retryBudget: planned(
      obj({
        percent: obj({ value: num({ min: 0, max: 100 }) }),
        minRetryConcurrency: u32,
      }),
      'use connectionPool.http.maxRetries',
    ),
  },
  { name: 'TrafficPolicy' },
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
