/** networking.istio.io VirtualService (virtual_service.proto). */
import { checkDnsName } from '../../lib/index.js'
import {
  any,
  arr,
  bool,
  deprecated,
  duration,
  enumOf,
  int,
  map,
  mesh,
  obj,
  planned,
  port,
  removed,
  req,
  str,
  type Infer,
} from './dsl.js'
import { destination, int32NonNeg, MESH_SOURCE, percent, re2, stringMatch } from './common.js'

const headerName = (v: string): string | undefined =>
  /^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(v) ? undefined : `"${v}" is not a valid header name`

const headerOperations = obj(
  {
    set: map(str()),
    add: map(str()),
    remove: arr(str({ check: headerName, checkCode: 'PC1210' })),
  },
  { name: 'HeaderOperations' },
)
export const headers = obj(
  { request: headerOperations, response: headerOperations },
  { name: 'Headers' },
)
export type Headers = Infer<typeof headers>

export const httpMatchRequest = obj(
  {
    name: str(),
    uri: stringMatch,
    scheme: stringMatch,
    method: stringMatch,
    authority: stringMatch,
    headers: map(stringMatch),
    port: port(),
    sourceLabels: mesh(map(str()), MESH_SOURCE),
    gateways: arr(str()),
    queryParams: map(stringMatch),
    ignoreUriCase: bool(),
    withoutHeaders: map(stringMatch),
    sourceNamespace: mesh(str(), MESH_SOURCE),
    statPrefix: planned(str(), 'per-match stats prefixes are not exported'),
  },
  { name: 'HTTPMatchRequest' },
)
export type HTTPMatchRequest = Infer<typeof httpMatchRequest>

export const httpRouteDestination = obj(
  {
    destination: req(destination),
    weight: int({ min: -2147483648, max: 2147483647 }),
    headers,
  },
  { name: 'HTTPRouteDestination' },
)

export const httpRedirect = obj(
  {
    uri: str(),
    authority: str(),
    port: port(),
    derivePort: enumOf(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']),
    scheme: str(),
    redirectCode: int({ min: 0, max: 999 }),
    prefixRewrite: str(),
  },
  {
    name: 'HTTPRedirect',
    oneOf: [
      ['port', 'derivePort'],
      ['uri', 'prefixRewrite'],
    ],
  },
)

export const httpDirectResponse = obj(
  {
    status: req(int({ min: 200, max: 599 })),
    body: obj({ string: str(), bytes: str() }, { name: 'HTTPBody', oneOf: [['string', 'bytes']] }),
  },
  { name: 'HTTPDirectResponse' },
)

export const httpRewrite = obj(
  {
    uri: str(),
    authority: str(),
    uriRegexRewrite: obj(
      { match: req(re2({ fullMatch: false })), rewrite: req(str()) },
      { name: 'RegexRewrite' },
    ),
  },
  { name: 'HTTPRewrite', oneOf: [['uri', 'uriRegexRewrite']] },
)

export const httpRetry = obj(
  {
    attempts: int32NonNeg,
    perTryTimeout: duration(),
    retryOn: str(),
    retryRemoteLocalities: planned(
      bool(),
      'a standalone gateway has no localities to prefer; retries already go to another endpoint',
    ),
    retryIgnorePreviousHosts: bool(),
    backoff: duration(),
  },
  { name: 'HTTPRetry' },
)

const grpcStatus = str()
export const httpFaultInjection = obj(
  {
    delay: obj(
      {
        fixedDelay: duration(),
        exponentialDelay: planned(duration(), 'hidden in the Istio API; use fixedDelay'),
        percentage: percent,
        percent: deprecated(int({ min: 0, max: 100 }), 'use percentage'),
      },
      { name: 'Delay', oneOf: [['fixedDelay', 'exponentialDelay']] },
    ),
    abort: obj(
      {
        httpStatus: int({ min: 200, max: 599 }),
        grpcStatus: planned(grpcStatus, 'gRPC aborts are not injected yet; use httpStatus'),
        http2Error: planned(str(), 'hidden in the Istio API; use httpStatus'),
        percentage: percent,
      },
      { name: 'Abort', oneOf: [['httpStatus', 'grpcStatus', 'http2Error']] },
    ),
  },
  { name: 'HTTPFaultInjection' },
)

export const corsPolicy = obj(
  {
    allowOrigins: arr(stringMatch),
    allowOrigin: deprecated(arr(str()), 'use allowOrigins'),
    allowMethods: arr(str()),
    allowHeaders: arr(str()),
    exposeHeaders: arr(str()),
    maxAge: duration(),
    allowCredentials: bool(),
    unmatchedPreflights: enumOf(['UNSPECIFIED', 'FORWARD', 'IGNORE']),
  },
  { name: 'CorsPolicy' },
)

export const httpRoute = obj(
  {
    name: str(),
    match: arr(httpMatchRequest),
    route: arr(httpRouteDestination),
    redirect: httpRedirect,
    directResponse: httpDirectResponse,
    delegate: planned(
      obj({ name: str(), namespace: str() }, { name: 'Delegate' }),
      'delegate VirtualServices are not supported',
    ),
    rewrite: httpRewrite,
    timeout: duration(),
    retries: httpRetry,
    fault: httpFaultInjection,
    mirror: destination,
    mirrors: arr(
      obj({ destination: req(destination), percentage: percent }, { name: 'HTTPMirrorPolicy' }),
    ),
    mirrorPercentage: percent,
    mirrorPercent: deprecated(int({ min: 0, max: 100 }), 'use mirrorPercentage'),
    corsPolicy,
    headers,
    websocketUpgrade: removed(any('boolean'), 'WebSocket upgrades are always allowed'),
    appendHeaders: removed(any('map'), 'use headers.request.add'),
    removeResponseHeaders: removed(any('list'), 'use headers.response.remove'),
    appendResponseHeaders: removed(any('map'), 'use headers.response.add'),
    removeRequestHeaders: removed(any('list'), 'use headers.request.remove'),
    appendRequestHeaders: removed(any('map'), 'use headers.request.add'),
  },
  // One action per route (route, redirect, directResponse, delegate) is checked in
  // semantic/http-route.ts, which reports it as PC1201 like the other action rules.
  { name: 'HTTPRoute' },
)
export type HTTPRoute = Infer<typeof httpRoute>

const l4Subnets = 'L4 matches by address are not implemented yet; match by port and gateways'

const routeDestination = obj(
  { destination: req(destination), weight: int() },
  { name: 'RouteDestination' },
)

export const tlsRoute = obj(
  {
    match: req(
      arr(
        obj(
          {
            sniHosts: req(arr(str(), { min: 1 })),
            destinationSubnets: planned(arr(str()), l4Subnets),
            port: port(),
            sourceLabels: mesh(map(str()), MESH_SOURCE),
            gateways: arr(str()),
            sourceNamespace: mesh(str(), MESH_SOURCE),
          },
          { name: 'TLSMatchAttributes' },
        ),
        { min: 1 },
      ),
    ),
    route: arr(routeDestination),
  },
  { name: 'TLSRoute' },
)

export const tcpRoute = obj(
  {
    match: arr(
      obj(
        {
          destinationSubnets: planned(arr(str()), l4Subnets),
          port: port(),
          sourceLabels: mesh(map(str()), MESH_SOURCE),
          gateways: arr(str()),
          sourceNamespace: mesh(str(), MESH_SOURCE),
          sourceSubnet: planned(str(), l4Subnets),
        },
        { name: 'L4MatchAttributes' },
      ),
    ),
    route: arr(routeDestination),
  },
  { name: 'TCPRoute' },
)

const vsHost = str({
  nonEmpty: true,
  checkCode: 'PC1112',
  check: (v) => {
    if (/^[0-9.]+$/.test(v) || v.includes(':')) return undefined // IP addresses are allowed for gateways
    const r = checkDnsName(v, { allowWildcard: true })
    return r !== undefined ? `invalid host "${v}": ${r}` : undefined
  },
})

export const virtualServiceSpec = obj(
  {
    hosts: arr(vsHost),
    gateways: arr(str({ nonEmpty: true })),
    http: arr(httpRoute),
    // Support is reported on the field: an item's level would not be reported inside a list.
    tls: arr(tlsRoute),
    tcp: arr(tcpRoute),
    exportTo: arr(str()),
  },
  { name: 'VirtualService' },
)
export type VirtualServiceSpec = Infer<typeof virtualServiceSpec>
