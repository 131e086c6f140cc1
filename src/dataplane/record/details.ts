/**
 * The response details (%RESPONSE_CODE_DETAILS%) the data plane writes, named once. Envoy's own
 * names where Envoy has one (operators grep for them), our own in the same style otherwise.
 * The listener's request-guard refusals (`http1.*`, `http.*`) are listed in
 * listeners/rejections.ts with their statuses; egress reasons come from match/egress.ts and are
 * joined by `egressDenied`/`egressAudited`.
 */
export const Details = {
  // The upstream answered.
  viaUpstream: 'via_upstream',
  // Answered by the gateway itself.
  directResponse: 'direct_response',
  corsResponse: 'cors_response',
  routeNotFound: 'route_not_found',
  clusterNotFound: 'cluster_not_found',
  noHealthyUpstream: 'no_healthy_upstream',
  faultAbort: 'fault_filter_abort',
  rateLimited: 'request_rate_limited',
  rateLimiterError: 'rate_limiter_error',
  overload: 'overload',
  internalError: 'internal_error',
  upgradeFailed: 'upgrade_failed',
  misdirectedRequest: 'misdirected_request',
  invalidUpstreamRequest: 'invalid_upstream_request',
  // Timeouts and disconnects.
  responseTimeout: 'response_timeout',
  streamIdleTimeout: 'stream_idle_timeout',
  requestBodyRateTooLow: 'request_body_rate_too_low',
  downstreamRemoteDisconnect: 'downstream_remote_disconnect',
  // Upstream failures; the `{reason}` forms are built by upstreamResetBeforeResponse.
  upstreamConnectFailure: 'upstream_connect_failure',
  upstreamResetAfterResponse: 'upstream_reset_after_response_started{connection_termination}',
  dnsResolutionFailed: 'dns_resolution_failed',
  // The outbound proxy and SNI egress.
  badConnectTarget: 'bad_connect_target',
  clientHelloTimeout: 'client_hello_timeout',
  invalidClientHello: 'invalid_client_hello',
  missingSni: 'missing_sni',
  // An L4 connection that ended normally (Envoy's TCP proxy writes no details; neither do we).
  none: '',
} as const

export type Detail = (typeof Details)[keyof typeof Details]

/** Why an upstream reset before any response byte: `connection_failure`, `overflow`, … */
export type ResetReason =
  | 'connection_failure'
  | 'connection_termination'
  | 'remote_refused_stream_reset'
  | 'protocol_error'
  | 'overflow'

export function upstreamResetBeforeResponse(reason: ResetReason): string {
  return `upstream_reset_before_response_started{${reason}}`
}

/** `egress_denied:host_not_registered`: refused by the outbound traffic policy. */
export function egressDenied(reason: string | undefined): string {
  return `egress_denied:${reason ?? 'unknown'}`
}

/** `egress_audited:<reason>`: audit mode let through what enforcement would refuse. */
export function egressAudited(reason: string | undefined): string {
  return `egress_audited:${reason ?? 'unknown'}`
}

/** `egress_allowed`, `egress_passthrough`: how an admitted tunnel's destination was admitted. */
export function egressAdmitted(verdict: 'allowed' | 'passthrough'): string {
  return `egress_${verdict}`
}
