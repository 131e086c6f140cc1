/**
 * What the data plane reports. The data plane calls these hooks; observe/ turns them into
 * metrics and access-log lines. This file is the only part of observe/ the data plane imports.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

/**
 * Envoy response flags (Istio operators read these), plus our own:
 *   DPE downstream protocol error (malformed request rejected before routing)
 *   EG  egress denied by the outbound traffic policy
 */
export type ResponseFlag =
  | 'NR' // no route
  | 'NC' // no cluster (unknown host or subset)
  | 'UH' // no healthy upstream
  | 'UF' // upstream connect failure
  | 'UC' // upstream connection termination
  | 'UT' // upstream request timeout
  | 'URX' // retries exhausted
  | 'UO' // upstream overflow (circuit breaker)
  | 'RL' // rate limited
  | 'RLSE' // rate-limit service error (fail closed)
  | 'FI' // fault injected abort
  | 'DI' // fault injected delay
  | 'DC' // downstream connection termination
  | 'DPE' // downstream protocol error
  | 'UPE' // upstream protocol error (malformed response)
  | 'OM' // overload manager: shed before routing
  | 'EG' // egress denied
  | 'SI' // stream idle timeout (also: request body slower than the minimum rate)

/** One finished HTTP request/response exchange, as seen at the downstream side. */
export interface RequestRecord {
  /** Epoch milliseconds when the request headers arrived. */
  readonly startTime: number
  /** Milliseconds from request start to the last response byte (or the abort). */
  readonly durationMs: number
  readonly method: string
  /** Path as the client sent it, query included. */
  readonly path: string
  /** 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2'. */
  readonly protocol: string
  readonly scheme: 'http' | 'https'
  readonly authority: string
  /** Request headers as received (read-only view; never mutated after the request ends). */
  readonly requestHeaders: IncomingHttpHeaders
  /** Response headers as sent downstream, when known. */
  readonly responseHeaders: OutgoingHttpHeaders | undefined
  readonly requestId: string
  /** Status sent downstream; 0 when the connection ended before a response started. */
  readonly status: number
  /** Response flags joined with ',' ('-' when none), Envoy style. */
  readonly responseFlags: string
  /** Envoy-style short reason: 'via_upstream', 'route_not_found', 'direct_response', ... */
  readonly responseCodeDetails: string
  readonly bytesReceived: number
  readonly bytesSent: number
  /** 'ip:port' of the upstream endpoint that answered, if any. */
  readonly upstreamHost: string | undefined
  /** Cluster id, e.g. 'outbound|80||httpbin.org', if a route forwarded. */
  readonly upstreamCluster: string | undefined
  /** Milliseconds from sending upstream to the first response header byte. */
  readonly upstreamServiceTimeMs: number | undefined
  /** Destination service host (the ServiceEntry host), if any. */
  readonly destinationService: string | undefined
  /** '<ns>/<virtualservice>/http[<i>]' or the route's name; undefined when no route matched. */
  readonly routeName: string | undefined
  /** Listener id, '<bind>:<port>'. */
  readonly listener: string
  readonly downstreamRemoteAddress: string
  readonly downstreamLocalAddress: string
  /** SNI of the downstream TLS connection, if any. */
  readonly requestedServerName: string | undefined
  /** Why the upstream connection failed (a TLS verification error code), if it did. */
  readonly upstreamTransportFailureReason?: string | undefined
  /** grpc-status the upstream sent in trailers (after a body), if any. */
  readonly grpcStatus?: string | undefined
}

/**
 * One L4 connection (a TCP route, TLS PASSTHROUGH, a terminated TLS tcp route, SNI egress), as
 * Envoy's TCP proxy logs it: the same fields as a request, with the HTTP ones empty (method,
 * path and protocol print `-`, status 0), bytes counted each way over the whole connection.
 */
export type ConnectionRecord = RequestRecord

export interface RequestObserver {
  onRequestComplete(record: RequestRecord): void
  /**
   * An L4 connection was accepted and its destination decided (istio_tcp_connections_opened_total).
   * `record` holds what is known so far: no byte counts yet.
   */
  onConnectionOpen?(record: ConnectionRecord): void
  /** An L4 connection closed: one access-log line and the istio_tcp_* counters. */
  onConnectionComplete?(record: ConnectionRecord): void
}

/** Config reload outcomes, for metrics. */
export interface ReloadObserver {
  onReload(result: 'applied' | 'rejected' | 'unchanged', version: number): void
}

/** How one rate-limit rule decided one request. */
export type RateLimitOutcome = 'ok' | 'over_limit' | 'shadow_over_limit' | 'error'

/** Limit events, for metrics (`portcullis_ratelimit_*`, `portcullis_limit_store_*`). */
export interface LimitObserver {
  /** `policy` is `<namespace>/<name>`, `rule` the rule's index. */
  onRateLimit(policy: string, rule: number, outcome: RateLimitOutcome): void
  onStoreHealth(health: 'ok' | 'degraded'): void
  /** A decision made without the shared store (Redis down): `local` (fail open) or `error`. */
  onDecisionWithoutStore(kind: 'rate' | 'concurrency', mode: 'open' | 'closed'): void
  /**
   * Every limit decision of a shared store, by how it was made: `store`, `local-deadline` (its
   * answer missed the deadline, decided locally for that request) or `local-outage`.
   */
  onLimitDecision?(
    kind: 'rate' | 'concurrency',
    mode: 'store' | 'local-deadline' | 'local-outage',
  ): void
  /** The live replicas sharing the limits, as the store's membership last saw them. */
  onMembership?(replicas: number): void
  /** A listener closed a new downstream connection over its GatewayConfig downstream cap. */
  onConnectionRefused?(
    listener: string,
    reason: 'max_connections' | 'max_connections_per_client',
  ): void
}

/** How an egress destination was asked for. */
export type EgressArrival = 'http' | 'connect' | 'sni'

/** One egress allowlist decision, made before any upstream connection exists. */
export interface EgressEvent {
  /** allowed (registered), passthrough (ALLOW_ANY, unknown), audited (would be denied), denied. */
  readonly decision: 'allowed' | 'passthrough' | 'audited' | 'denied'
  /** Lower-case host, SNI or IP literal as requested. */
  readonly host: string
  readonly port: number
  readonly arrival: EgressArrival
  /** Client address. */
  readonly source: string
  /** Why enforcement refuses (or in audit mode would refuse) it; undefined when allowed. */
  readonly reason: string | undefined
}

/** Egress decisions, for `portcullis_egress_*` metrics and the admin API's recent lists. */
export interface EgressObserver {
  onEgressDecision(event: EgressEvent): void
}

/**
 * Downstream connections that ended in an error, for `portcullis_downstream_*` metrics. Reasons
 * are short fixed words (`h2_rapid_reset`, `no_client_cert`, …), never free text: they are labels.
 */
export interface ConnectionObserver {
  /** A connection was closed because of an error on it (protocol abuse, a callback that threw). */
  onConnectionError(listener: string, reason: string): void
  /** A TLS handshake failed, or its client certificate was refused: closed without any HTTP. */
  onTlsHandshakeFailure(listener: string, reason: string): void
}

/**
 * What the request path's trace steps hand the tracer about one request (the request context
 * has these fields): read when the span starts, never copied.
 */
export interface TracedRequest {
  /** Epoch ms at arrival: the span starts when the request did, not when the step ran. */
  readonly startTime: number
  readonly method: string
  readonly scheme: 'http' | 'https'
  readonly authority: string
  readonly path: string
  readonly query: string
  readonly requestId: string
  readonly req: { readonly headers: IncomingHttpHeaders }
}

/** One request's span (sampled or not); ended once, at the request's record. */
export interface RequestSpan {
  /**
   * Whether the client's request carried trace headers of the tracer's formats. When it did not
   * (most requests at an edge), there are none of the client's to drop from the upstream head.
   */
  readonly clientSentContext: boolean
  /** Appends the propagated context (this span as the parent) to a flat name/value list. */
  inject(headers: string[]): void
  /**
   * A CLIENT span for one upstream attempt, the child of this span, when this span is sampled
   * (Envoy's upstream span); undefined otherwise, so unsampled requests pay one call and no
   * allocation. `attempt` is 1 for the first attempt, 2 for the first retry, ...
   */
  startAttempt(cluster: string, upstreamAddress: string, attempt: number): AttemptSpan | undefined
  end(record: RequestRecord): void
}

/** One upstream attempt's span; ended once, when the attempt does. */
export interface AttemptSpan {
  /**
   * Rewrites the context already injected into the upstream head (flat name/value list) so that
   * this attempt, not the request's span, is the upstream's parent.
   */
  reparent(headers: string[]): void
  /**
   * `status`: the upstream's response status, 0 when none came; `failure`: why the attempt
   * ended without a complete response (an error, or the gateway cancelling it), if it did.
   */
  end(status: number, failure: string | undefined): void
}

/** The tracer of one snapshot's tracing plan (observe/tracing builds it). */
export interface RequestTracer {
  /**
   * The lower-case names of the trace headers this tracer reads and writes (its formats): the
   * client's values of these are replaced upstream; others pass as any header.
   */
  readonly traceHeaders: ReadonlySet<string>
  /** Continues the incoming trace context, or starts one; `operation` is the span name. */
  start(request: TracedRequest, operation: string): RequestSpan
}
