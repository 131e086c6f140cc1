/** portcullis.io/v1alpha1 GatewayConfig: our own process settings, in the same file. */
import { parseIp } from '../../lib/index.js'
import { arr, bool, duration, enumOf, int, map, noted, obj, req, str, type Infer } from './dsl.js'
import { extensionProvider } from './extension-providers.js'
import { redisSettings } from './redis.js'
import { workerCount } from './workers.js'

const listenPort = int({ min: 0, max: 65535, type: 'port (0 disables)' })
const address = str({
  nonEmpty: true,
  checkCode: 'PC1115',
  check: (v) => (/^[0-9a-fA-F.:]+$/.test(v) ? undefined : `"${v}" is not an IP address`),
})

const cidr = str({
  nonEmpty: true,
  checkCode: 'PC1115',
  check: (v) => (isCidr(v) ? undefined : `"${v}" is not an IP address or CIDR block`),
})

function isCidr(v: string): boolean {
  const slash = v.indexOf('/')
  const ip = parseIp(slash < 0 ? v : v.slice(0, slash))
  if (ip === undefined) return false
  if (slash < 0) return true
  const bits = v.slice(slash + 1)
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= ip.bytes.length * 8
}

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
        maxUriBytes: noted(
          int({ min: 256, max: 1048576 }),
          'longest request target (request line or :path) accepted; longer ones get 414',
        ),
        maxRequestsPerConnection: int({ min: 0 }),
        headersWithUnderscores: enumOf(['REJECT', 'DROP', 'ALLOW']),
        maxConnections: int({ min: 1 }),
        maxConnectionsPerClient: int({ min: 1 }),
        streamIdleTimeout: noted(
          duration({ minMs: 0 }),
          'default 60s, 0 disables: a request with no bytes either way for this long ends, 408 (flag SI) if its response has not started, reset otherwise',
        ),
        minRequestBodyRate: noted(
          int({ min: 0 }),
          'bytes per second, default 240, 0 disables: a request body slower than this over minRequestBodyRateWindow (while the gateway is reading it) gets 408 (flag SI) and its upstream request is aborted',
        ),
        minRequestBodyRateWindow: noted(
          duration({ minMs: 100 }),
          'default 10s: the window minRequestBodyRate is measured over',
        ),
      },
      { name: 'Downstream' },
    ),
    numTrustedProxies: noted(
      int({ min: 0, max: 64 }),
      'the same as gatewayTopology.numTrustedProxies (set one; both set must agree)',
    ),
    gatewayTopology: obj(
      {
        numTrustedProxies: noted(
          int({ min: 0, max: 64 }),
          'proxies in front of the gateway whose X-Forwarded-For entries are trusted (default 0)',
        ),
        forwardClientCertDetails: noted(
          enumOf([
            'UNDEFINED',
            'SANITIZE',
            'FORWARD_ONLY',
            'APPEND_FORWARD',
            'SANITIZE_SET',
            'ALWAYS_FORWARD_ONLY',
          ]),
          'x-forwarded-client-cert handling, as Envoy; default (and UNDEFINED) SANITIZE_SET, the Istio gateway default (docs/tls.md)',
        ),
        proxyProtocol: noted(
          obj(
            {
              trustedCidrs: noted(
                arr(cidr),
                'sources whose connections must start with a PROXY header (default: every source); others are served with their own address and a header they send is not honoured',
              ),
              ports: noted(
                arr(int({ min: 1, max: 65535, type: 'port' })),
                'listener ports that read the header (default: every Gateway listener and egress SNI port)',
              ),
              headerTimeout: noted(
                duration({ minMs: 1 }),
                'time a trusted connection has to send its whole header (default 5s); then it is closed',
              ),
            },
            { name: 'ProxyProtocol' },
          ),
          'Istio ProxyConfig gatewayTopology.proxyProtocol: PROXY protocol v1 and v2, read before TLS; {} turns it on for every listener',
        ),
      },
      { name: 'GatewayTopology' },
    ),
    serverHeader: str(),
    labels: map(str()),
    compatibility: noted(
      enumOf(['istio-1.27', 'istio-1.28', 'latest']),
      'istio-1.27 adds the -shadow Host suffix to mirrored requests; later profiles do not',
    ),
    certsDir: str({ nonEmpty: true }),
    outbound: obj(
      {
        address,
        port: noted(
          listenPort,
          'one outbound listener port; 0 turns it off (with no ports, the outbound listener is off)',
        ),
        ports: noted(
          arr(int({ min: 1, max: 65535, type: 'port' })),
          'more outbound listener ports, one listener each (as Istio has one per service port): a Host without a port names the port connected to',
        ),
        namespace: noted(
          str({ nonEmpty: true }),
          'default "default": the namespace the outbound listener plays a sidecar in; short names (reviews) are served for its services, name.ns for the others',
        ),
      },
      {
        name: 'OutboundListener',
        check: (v, ctx, path) => {
          if (v.port === undefined && v.ports === undefined) {
            ctx.issues.push({
              code: 'PC1103',
              path: [...path, 'port'],
              message: 'port or ports is required (the ports the outbound listener listens on)',
            })
          }
        },
      },
    ),
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
        sniPortMappings: noted(
          arr(
            obj(
              {
                port: req(int({ min: 1, max: 65535, type: 'port' })),
                servicePort: req(int({ min: 1, max: 65535, type: 'port' })),
              },
              { name: 'SniPortMapping' },
            ),
          ),
          'more SNI egress ports, each listening on port and admitting names as ServiceEntry servicePort (8443 for 443, so 443 needs no root)',
        ),
        httpPorts: noted(
          arr(int({ min: 1, max: 65535, type: 'port' })),
          'Gateway HTTP server ports where a Host no route serves is decided by the ServiceEntries: registered hosts are forwarded, others get the egress 502',
        ),
      },
      { name: 'EgressPorts' },
    ),
    dns: obj({ servers: arr(str({ nonEmpty: true })) }, { name: 'Dns' }),
    pathNormalization: obj(
      {
        normalization: noted(
          enumOf(['NONE', 'BASE', 'DEFAULT', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']),
          'Istio meshConfig.pathNormalization: BASE (= DEFAULT, the default) keeps %2F and //; docs/path-normalization.md',
        ),
      },
      { name: 'PathNormalization' },
    ),
    redis: redisSettings,
    workers: noted(
      workerCount,
      'cluster worker processes on the same ports; auto = available CPUs, 1 = one process (docs/limits.md)',
    ),
    overload: obj(
      {
        maxEventLoopDelay: noted(
          duration({ minMs: 0 }),
          'default 0s (off); 200ms recommended at the edge: while the event loop lags beyond it new requests get 503 OM and readiness is 503',
        ),
        maxActiveRequests: noted(
          int({ min: 0 }),
          'default 0 (no cap); requests in progress in one process (each worker) at which a new request gets 503 OM at once, so that under overload the excess is refused fast instead of queueing (docs/limits.md)',
        ),
        retryAfter: noted(
          duration({ minMs: 1000 }),
          'default 1s; the Retry-After of a shed request, in whole seconds (rounded up)',
        ),
      },
      { name: 'Overload' },
    ),
    meshIdentity: obj(
      {
        certChain: noted(
          str({ nonEmpty: true }),
          "default /etc/certs/cert-chain.pem (Istio's file-mounted certificates); the workload certificate chain, with a SPIFFE URI SAN",
        ),
        privateKey: noted(str({ nonEmpty: true }), 'default /etc/certs/key.pem'),
        rootCert: noted(
          str({ nonEmpty: true }),
          'default /etc/certs/root-cert.pem; the mesh root CA: verifies peers of ISTIO_MUTUAL',
        ),
        trustDomain: noted(
          str({
            nonEmpty: true,
            check: (v) =>
              /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(v)
                ? undefined
                : `"${v}" is not a SPIFFE trust domain (lower-case letters, digits, dots and dashes)`,
          }),
          'default cluster.local; peers of ISTIO_MUTUAL must have a spiffe://<trustDomain>/ identity',
        ),
      },
      { name: 'MeshIdentity' },
    ),
    extensionProviders: noted(
      arr(extensionProvider),
      'meshConfig.extensionProviders: the tracing backends a Telemetry resource names (docs/tracing.md)',
    ),
  },
  { name: 'GatewayConfig' },
)
export type GatewayConfigSpec = Infer<typeof gatewayConfigSpec>
