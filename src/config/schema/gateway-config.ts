/** portcullis.io/v1alpha1 GatewayConfig: our own process settings, in the same file. */
import { arr, bool, duration, enumOf, int, map, noted, obj, req, str, type Infer } from './dsl.js'
import { redisSettings } from './redis.js'
import { workerCount } from './workers.js'

const listenPort = int({ min: 0, max: 65535, type: 'port (0 disables)' })
const address = str({
  nonEmpty: true,
  checkCode: 'PC1115',
  check: (v) => (/^[0-9a-fA-F.:]+$/.test(v) ? undefined : `"${v}" is not an IP address`),
})

export const gatewayConfigSpec = obj(
  {
    bindAddress: address,
    admin: obj({ address, port: listenPort }, { name: 'Admin' }),
    readiness: obj({ port: listenPort }, { name: 'Readiness' }),
    metrics: obj({ port: listenPort }, { name: 'Metrics' }),
    accessLog: obj(
      {
        disabled: bool(),
        path: str({ nonEmpty: true }),
        format: str({ nonEmpty: true }),
        encoding: enumOf(['TEXT', 'JSON']),
      },
      { name: 'AccessLog' },
    ),
    drainTimeout: duration(),
    downstream: obj(
      {
        headersTimeout: duration(),
        requestTimeout: duration(),
        idleTimeout: duration(),
        maxHeaderBytes: int({ min: 1024, max: 1048576 }),
        maxHeaderCount: int({ min: 1, max: 10000 }),
        maxRequestsPerConnection: int({ min: 0 }),
        headersWithUnderscores: enumOf(['REJECT', 'DROP', 'ALLOW']),
        maxConnections: int({ min: 1 }),
        maxConnectionsPerClient: int({ min: 1 }),
      },
      { name: 'Downstream' },
    ),
    numTrustedProxies: int({ min: 0, max: 64 }),
    serverHeader: str(),
    labels: map(str()),
    compatibility: noted(
      enumOf(['istio-1.27', 'istio-1.28', 'latest']),
      'istio-1.27 adds the -shadow Host suffix to mirrored requests; later profiles do not',
    ),
    certsDir: str({ nonEmpty: true }),
    outbound: obj({ address, port: req(listenPort) }, { name: 'OutboundListener' }),
    outboundTrafficPolicy: obj(
      {
        mode: noted(
          enumOf(['REGISTRY_ONLY', 'ALLOW_ANY']),
          'ALLOW_ANY (the Istio mesh default) passes unknown destinations; REGISTRY_ONLY admits only ServiceEntry hosts, ports and addresses',
        ),
        enforcement: noted(
          enumOf(['enforce', 'audit']),
          'audit lets REGISTRY_ONLY denials through and records each one (log flag EG, decision audited)',
        ),
        allowPrivateAddresses: noted(
          bool(),
          'default false: loopback, private, link-local and unique-local destinations are refused unless a ServiceEntry lists the address',
        ),
      },
      { name: 'OutboundTrafficPolicy' },
    ),
    egress: obj(
      {
        address,
        sniPorts: noted(
          arr(int({ min: 1, max: 65535, type: 'port' })),
          'TLS ports admitted by SNI against the ServiceEntries alone and passed through to the checked address',
        ),
        httpPorts: noted(
          arr(int({ min: 1, max: 65535, type: 'port' })),
          'Gateway HTTP server ports where a Host no route serves is decided by the ServiceEntries: registered hosts are forwarded, others get the egress 502',
        ),
      },
      { name: 'EgressPorts' },
    ),
    dns: obj({ servers: arr(str({ nonEmpty: true })) }, { name: 'Dns' }),
    redis: redisSettings,
    workers: noted(
      workerCount,
      'cluster worker processes on the same ports; auto = available CPUs, 1 = one process (docs/limits.md)',
    ),
    overload: obj(
      {
        maxEventLoopDelay: noted(
          duration({ minMs: 0 }),
          'default 200ms; while the event loop lags beyond it new requests get 503 OM and readiness is 503; 0s turns the guard off',
        ),
        retryAfter: noted(
          duration({ minMs: 1000 }),
          'default 1s; the Retry-After of a shed request, in whole seconds (rounded up)',
        ),
      },
      { name: 'Overload' },
    ),
  },
  { name: 'GatewayConfig' },
)
export type GatewayConfigSpec = Infer<typeof gatewayConfigSpec>
