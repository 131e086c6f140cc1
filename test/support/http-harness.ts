/**
 * Test harness for the HTTP request path: IR builders, loopback upstreams that record what they
 * saw, and a plain node:http server that hands every request to the handler. Used by the
 * *.test.ts files next to it.
 */
import type { RateLimitDeps } from '../../src/dataplane/http/rate-limit-policy.js'
import { createServer, request as nodeRequest } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Agent, request } from 'undici'
import type * as ir from '../../src/ir/index.js'
import { createLogger, silentLogger } from '../../src/lib/index.js'
import type { RequestRecord, RequestTracer } from '../../src/observe/events.js'
import { prepareSnapshot, releaseSnapshot } from '../../src/dataplane/http/prepare-snapshot.js'
import type { PreparedSnapshot } from '../../src/dataplane/prepared.js'
import type { ListenerContext } from '../../src/dataplane/types.js'
import { createUpstreamRegistry } from '../../src/dataplane/upstream/registry.js'
import type {
  UpstreamRegistry,
  UpstreamRegistryOptions,
} from '../../src/dataplane/upstream/registry.js'
import { createHttpHandler } from '../../src/dataplane/http/handler.js'

interface TestContext {
  after(fn: () => unknown): void
}

export const LISTENER_ID = '0.0.0.0:80'

const NO_OPS: ir.HeaderOperations = { set: [], add: [], remove: [] }
export const NO_HEADER_RULES: ir.HeaderRules = { request: NO_OPS, response: NO_OPS }
export const NO_RETRY: ir.RetryPolicy = {
  attempts: 0,
  retryOn: [],
  retriableStatusCodes: [],
  backoffBaseMs: 1,
}

const SOURCE: ir.SourceRef = {
  kind: 'VirtualService',
  namespace: 'default',
  name: 'vs',
  path: 'spec.http[0]',
  file: 'gateway.yaml',
  line: 1,
}

export function ops(o: Partial<ir.HeaderOperations>): ir.HeaderOperations {
  return { ...NO_OPS, ...o }
}

export function destination(
  cluster: ir.Cluster | string,
  over: Partial<ir.RouteDestination> = {},
): ir.RouteDestination {
  const id = typeof cluster === 'string' ? cluster : cluster.id
  const host = typeof cluster === 'string' ? 'missing.example.com' : cluster.host
  return { cluster: id, host, port: 80, weight: 100, headers: NO_HEADER_RULES, ...over }
}

export function forward(...destinations: ir.RouteDestination[]): ir.ForwardAction {
  return {
    kind: 'forward',
    destinations,
    totalWeight: destinations.reduce((s, d) => s + d.weight, 0),
  }
}

export function route(
  id: string,
  action: ir.RouteAction,
  over: Partial<Omit<ir.HttpRoute, 'id' | 'action'>> = {},
): ir.HttpRoute {
  return {
    id,
    source: SOURCE,
    match: [],
    action,
    headers: NO_HEADER_RULES,
    retry: NO_RETRY,
    mirrors: [],
    ...over,
  }
}

export function prefixMatch(value: string, over: Partial<ir.RequestMatch> = {}): ir.RequestMatch {
  return {
    uri: { kind: 'prefix', value },
    ignoreUriCase: false,
    headers: [],
    queryParams: [],
    ...over,
  }
}

export function cluster(
  host: string,
  endpoints: readonly { port: number; address?: string; weight?: number }[],
  over: Partial<ir.Cluster> = {},
): ir.Cluster {
  const subset = over.subset
  return {
    id: `outbound|80|${subset ?? ''}|${host}`,
    host,
    port: 80,
    protocol: 'HTTP',
    resolution: 'STATIC',
    endpoints: endpoints.map((e) => ({
      address: e.address ?? '127.0.0.1',
      port: e.port,
      weight: e.weight ?? 1,
      labels: {},
    })),
    dnsRefreshMs: 60_000,
    connectTimeoutMs: 2000,
    source: { ...SOURCE, kind: 'ServiceEntry' },
    ...over,
  }
}

export interface SnapshotSpec {
  readonly virtualHosts: readonly ir.VirtualHost[]
  readonly clusters?: readonly ir.Cluster[]
  readonly settings?: Partial<ir.GatewaySettings>
}

export function vhost(
  domains: readonly string[],
  routes: readonly ir.HttpRoute[],
  requireTls = false,
): ir.VirtualHost {
  return { name: `${domains[0] ?? '*'}:80`, domains, requireTls, routes }
}

export function snapshot(spec: SnapshotSpec): ir.Snapshot {
  const settings: ir.GatewaySettings = {
    bindAddress: '0.0.0.0',
    admin: { address: '127.0.0.1', port: 0 },
    readiness: { address: '127.0.0.1', port: 0 },
    metrics: { address: '127.0.0.1', port: 0 },
    accessLog: { disabled: true, path: '/dev/stdout', format: '', encoding: 'TEXT' },
    drainTimeoutMs: 1000,
    downstream: {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 300_000,
      idleTimeoutMs: 60_000,
      maxHeaderBytes: 16_384,
      maxHeaderCount: 100,
      maxUriBytes: 8192,
      maxRequestsPerConnection: 1000,
      headersWithUnderscores: 'REJECT',
      streamIdleTimeoutMs: 60_000,
      minRequestBodyRate: 240,
      minRequestBodyRateWindowMs: 10_000,
    },
    pathNormalization: 'BASE',
    numTrustedProxies: 0,
    forwardClientCertDetails: 'SANITIZE_SET',
    serverHeader: 'istio-envoy',
    labels: {},
    ...spec.settings,
  }
  return {
    hash: 'test',
    settings,
    listeners: [
      {
        id: LISTENER_ID,
        address: '0.0.0.0',
        port: 80,
        transport: 'http',
        servers: [],
        chains: [
          { kind: 'http', routeTable: { name: 'http.80', virtualHosts: spec.virtualHosts } },
        ],
      },
    ],
    clusters: Object.fromEntries((spec.clusters ?? []).map((c) => [c.id, c])),
  }
}

export interface Gateway {
  readonly url: string
  readonly records: RequestRecord[]
  readonly prepared: PreparedSnapshot
  readonly registry: UpstreamRegistry
  /** The downstream server (closing its connections is what a drain does at its deadline). */
  readonly server: Server
  /** Resolves once `n` records are in (at most 5 s). */
  waitForRecords(n: number): Promise<RequestRecord[]>
}

export interface GatewayOptions {
  readonly listener?: Partial<ListenerContext>
  readonly registry?: Omit<UpstreamRegistryOptions, 'log'>
  readonly limits?: RateLimitDeps
  /** Tracers for the snapshot's tracing plan (observe/tracing's createTracing). */
  readonly tracing?: { tracerFor(plan: ir.TracingPlan): RequestTracer }
}

/** A node:http server on 127.0.0.1:0 whose request listener is the handler. */
export async function startGateway(
  t: TestContext,
  snap: ir.Snapshot,
  opts: GatewayOptions = {},
): Promise<Gateway> {
  const records: RequestRecord[] = []
  const registry = createUpstreamRegistry({ log: silentLogger, ...opts.registry })
  const prepared = prepareSnapshot(snap, registry, opts.limits, opts.tracing)
  const handler = createHttpHandler({
    observer: { onRequestComplete: (r) => records.push(r) },
    log: process.env['TEST_LOG'] !== undefined ? createLogger({ level: 'debug' }) : silentLogger,
    upstreams: registry,
  })
  const listener: ListenerContext = {
    id: LISTENER_ID,
    address: '0.0.0.0',
    port: 80,
    scheme: 'http',
    ...opts.listener,
  }
  const server = createServer((req, res) => handler(req, res, prepared, listener))
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
    handler.upgrade(req, socket, head, prepared, listener),
  )
  const port = await listen(server)
  t.after(async () => {
    await closeServer(server)
    releaseSnapshot(prepared, registry)
    await registry.close()
  })
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    prepared,
    registry,
    server,
    async waitForRecords(n) {
      for (let i = 0; i < 500 && records.length < n; i++) await sleep(10)
      return records
    },
  }
}

export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly bodyLength: number
}

export interface Upstream {
  readonly name: string
  readonly port: number
  readonly seen: SeenRequest[]
}

export type UpstreamBehaviour = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

/** Answers 200 with a JSON echo of what it received, and `x-upstream: <name>`. */
export const echo: UpstreamBehaviour = (req, res, body) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': upstreamName(req) })
  res.end(JSON.stringify({ url: req.url, headers: req.headers, bodyLength: body.length }))
}

function upstreamName(req: IncomingMessage): string {
  const server = (req.socket as { server?: Server & { upstreamName?: string } }).server
  return server?.upstreamName ?? ''
}

/**
 * A loopback upstream. The behaviour runs after the request body has been read, unless
 * `streaming` is set, in which case it gets the request unread and an empty body.
 */
export async function startUpstream(
  t: TestContext,
  name: string,
  behaviour: UpstreamBehaviour = echo,
  opts: { streaming?: boolean } = {},
): Promise<Upstream> {
  const seen: SeenRequest[] = []
  const server = createServer((req, res) => {
    const record = (bodyLength: number): void => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyLength,
      })
    }
    if (opts.streaming === true) {
      record(0)
      behaviour(req, res, Buffer.alloc(0))
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      record(body.length)
      behaviour(req, res, body)
    })
  })
  ;(server as Server & { upstreamName?: string }).upstreamName = name
  const port = await listen(server)
  t.after(() => closeServer(server))
  return { name, port, seen }
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  const port = await listen(server)
  await closeServer(server)
  return port
}

export interface Client {
  get(url: string, opts?: Parameters<typeof request>[1]): ReturnType<typeof request>
}

/** An undici client with its own connection pool, closed after the test. */
export function client(t: TestContext): Client {
  const agent = new Agent({ keepAliveTimeout: 1000 })
  t.after(() => agent.close())
  return { get: (url, opts) => request(url, { dispatcher: agent, ...opts }) }
}

export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface NodeResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/**
 * A request through node:http, for headers undici refuses to send (keep-alive, upgrade, ...).
 */
export function nodeGet(url: string, headers: Record<string, string>): Promise<NodeResponse> {
  return new Promise((resolve, reject) => {
    const req = nodeRequest(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
