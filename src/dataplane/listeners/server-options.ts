/**
 * Every knob of the per-listener node:http server, set explicitly from settings.downstream
 * (hardening.md §1.2/§1.3: Node's defaults are wrong for an edge, and some turn protections off
 * when a neighbouring knob changes).
 */
import type { Server, ServerOptions } from 'node:http'
import type * as ir from '../../ir/index.js'

/** How often Node checks headersTimeout/requestTimeout; its default (30 s) lets slowloris linger. */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000

export function httpServerOptions(limits: ir.DownstreamLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    maxHeaderSize: parserHeadLimit(limits),
    insecureHTTPParser: false,
    // The request guard enforces Host itself (HTTP/1.1 without Host → 400) so that the reply is
    // recorded like every other rejection; Node's own check answers without telling anyone.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    noDelay: true,
  }
}

/**
 * What Node's parser may buffer of a request head: the request line counts against its limit, so
 * it is raised by maxUriBytes. The request guard holds the target to maxUriBytes (414) and the
 * header fields to maxHeaderBytes (431) itself; only a head beyond both gets the parser's 431.
 */
export function parserHeadLimit(limits: ir.DownstreamLimits): number {
  return limits.maxHeaderBytes + limits.maxUriBytes
}

/**
 * The settings Node reads per connection or per request rather than at construction, so a kept
 * listener picks up a reload: timeouts apply to live connections at the next check, header
 * limits to connections accepted afterwards.
 */
export function applyLimits(server: Server, limits: ir.DownstreamLimits): void {
  server.headersTimeout = limits.headersTimeoutMs
  server.requestTimeout = limits.requestTimeoutMs
  server.keepAliveTimeout = limits.idleTimeoutMs
  // The listener counts maxRequestsPerConnection itself (http-listener.ts isLastRequest): Node's
  // own limit keeps the socket open and answers later requests with an unrecorded 503.
  server.maxRequestsPerSocket = 0
  // One above our limit: Node silently drops fields beyond maxHeadersCount, and the guard must
  // see the excess to answer 431.
  server.maxHeadersCount = limits.maxHeaderCount + 1
  // Not in @types/node, but it is the property Node reads for each new connection's parser.
  ;(server as { maxHeaderSize?: number }).maxHeaderSize = parserHeadLimit(limits)
  // Socket inactivity timeout stays off: keepAliveTimeout covers idle keep-alives and the request
  // path owns body and stream idle timeouts.
  server.timeout = 0
}

/** What the server is actually running with, for the startup log (§1.5). */
export function describeServer(
  server: Server,
  limits: ir.DownstreamLimits,
): Record<string, unknown> {
  return {
    headersTimeout: server.headersTimeout,
    requestTimeout: server.requestTimeout,
    keepAliveTimeout: server.keepAliveTimeout,
    maxRequestsPerSocket: server.maxRequestsPerSocket,
    maxRequestsPerConnection: limits.maxRequestsPerConnection,
    streamIdleTimeout: limits.streamIdleTimeoutMs,
    minRequestBodyRate: limits.minRequestBodyRate,
    maxHeadersCount: server.maxHeadersCount,
    maxHeaderSize: (server as { maxHeaderSize?: number }).maxHeaderSize,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    insecureHTTPParser: (server as { insecureHTTPParser?: boolean }).insecureHTTPParser,
    timeout: server.timeout,
  }
}

/** Problems with settings.downstream that would make Node throw or disable a protection. */
export function checkLimits(limits: ir.DownstreamLimits): string[] {
  const problems: string[] = []
  const nonNegative = [
    'headersTimeoutMs',
    'requestTimeoutMs',
    'idleTimeoutMs',
    'maxRequestsPerConnection',
    'streamIdleTimeoutMs',
    'minRequestBodyRate',
  ] as const satisfies readonly (keyof ir.DownstreamLimits)[]
  for (const key of nonNegative) {
    const v = limits[key]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      problems.push(`${key} must be a non-negative integer (got ${String(v)})`)
    }
  }
  for (const key of ['maxHeaderBytes', 'maxHeaderCount', 'minRequestBodyRateWindowMs'] as const) {
    const v = limits[key]
    if (!Number.isSafeInteger(v) || v < 1) {
      problems.push(`${key} must be a positive integer (got ${String(v)})`)
    }
  }
  if (limits.headersTimeoutMs === 0) {
    problems.push('headersTimeoutMs must not be 0 (it would disable the slowloris bound)')
  }
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    problems.push(
      `headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`,
    )
  }
  return problems
}

/**
 * Refuses to run with Node's lenient parser (`--insecure-http-parser` on the command line or in
 * NODE_OPTIONS): it accepts the framing ambiguities request smuggling relies on. Our servers set
 * insecureHTTPParser: false anyway; the flag would still reach every other parser in the process.
 */
export function assertStrictHttpParser(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env['NODE_OPTIONS'],
): void {
  const flag = '--insecure-http-parser'
  const inOptions = (nodeOptions ?? '').split(/\s+/).includes(flag)
  if (execArgv.includes(flag) || inOptions) {
    throw new Error(
      `refusing to start: ${flag} is set (${inOptions ? 'NODE_OPTIONS' : 'command line'}); it lets ambiguous HTTP framing through`,
    )
  }
}
