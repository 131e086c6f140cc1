import type { ClusterId, RouteId } from './ids.js'
import type { HeaderRules } from './headers.js'
import type { RequestMatch, StringMatch } from './match.js'
import type { SourceRef } from './source.js'

/** One weighted destination of a forward action. */
export interface RouteDestination {
  /** The cluster id; when it is missing from Snapshot.clusters, requests get 503 NC. */
  readonly cluster: ClusterId
  /** The destination host as written (after short-name expansion). */
  readonly host: string
  readonly subset?: string
  readonly port: number
  /** Relative weight; destinations with weight 0 are dropped at compile time. */
  readonly weight: number
  readonly headers: HeaderRules
  /**
   * Host/:authority for the upstream request from this destination's `headers.request`
   * (`:authority` or `host`). Only set when the route has no authorityRewrite of its own, so a
   * route-level rewrite always wins, as in Istio.
   */
  readonly authorityRewrite?: string
}

export interface ForwardAction {
  readonly kind: 'forward'
  readonly destinations: readonly RouteDestination[]
  /** Sum of weights, precomputed for the weighted pick. */
  readonly totalWeight: number
}

export interface RedirectAction {
  readonly kind: 'redirect'
  /** Replaces the whole path (query kept). */
  readonly uri?: string
  /** Replaces the matched prefix (Istio `prefixRewrite`). */
  readonly prefixRewrite?: string
  readonly authority?: string
  readonly scheme?: 'http' | 'https'
  readonly port?: number
  readonly derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT'
  /** 301 (default), 302, 303, 307 or 308. */
  readonly status: number
}

export interface DirectResponseAction {
  readonly kind: 'direct'
  readonly status: number
  /** Istio's body oneof: `string` is sent as UTF-8, `bytes` is base64 in the config. */
  readonly body?: { readonly text: string } | { readonly base64: string }
}

export type RouteAction = ForwardAction | RedirectAction | DirectResponseAction

export interface UriRewrite {
  /** Replacement for the matched prefix, or the whole path when the match was exact. */
  readonly prefix?: string
  /**
   * Istio uriRegexRewrite. `match` is RE2 as written (not anchored); `rewrite` is already in
   * JavaScript String.replace syntax (`$1`, `$&`, `$$`), converted from RE2's `\1` at compile
   * time. As Envoy's regex_rewrite (RE2 GlobalReplace), every match in the path is replaced.
   */
  readonly regex?: { readonly match: string; readonly rewrite: string }
}

export interface RetryPolicy {
  /** Retries after the first try; 0 disables retries. */
  readonly attempts: number
  readonly perTryTimeoutMs?: number
  /** Envoy retry-on tokens, e.g. ['connect-failure', 'refused-stream', '5xx']. */
  readonly retryOn: readonly string[]
  /** Status codes for `retriable-status-codes`. */
  readonly retriableStatusCodes: readonly number[]
  readonly backoffBaseMs: number
}

export interface FaultPolicy {
  readonly delay?: { readonly fixedDelayMs: number; readonly percent: number }
  readonly abort?: { readonly httpStatus: number; readonly percent: number }
}

export interface MirrorPolicy {
  readonly cluster: ClusterId
  readonly host: string
  readonly port: number
  /** 0–100, a double. */
  readonly percent: number
  /** Appended to the mirrored request's Host (`-shadow` on Istio 1.27 and earlier). */
  readonly hostSuffix?: string
}

export interface CorsPolicy {
  readonly allowOrigins: readonly StringMatch[]
  readonly allowMethods: readonly string[]
  readonly allowHeaders: readonly string[]
  readonly exposeHeaders: readonly string[]
  readonly maxAgeSeconds?: number
  readonly allowCredentials?: boolean
  readonly unmatchedPreflights: 'FORWARD' | 'IGNORE'
}

/** One compiled Istio HTTPRoute, bound to one virtual host of one route table. */
export interface HttpRoute {
  readonly id: RouteId
  /** The Istio route `name`, when set (shown in access logs). */
  readonly name?: string
  readonly source: SourceRef
  /** OR of the entries; an empty list matches every request. */
  readonly match: readonly RequestMatch[]
  readonly action: RouteAction
  readonly rewrite?: UriRewrite
  /** Replacement Host/:authority for the upstream request. */
  readonly authorityRewrite?: string
  readonly headers: HeaderRules
  /** Route timeout; absent means none (Istio's default). */
  readonly timeoutMs?: number
  readonly retry: RetryPolicy
  readonly fault?: FaultPolicy
  readonly mirrors: readonly MirrorPolicy[]
  readonly cors?: CorsPolicy
}

export interface VirtualHost {
  /** `<host>:<port>` as Envoy names virtual hosts. */
  readonly name: string
  /** Lower-case host patterns: exact names, `*.suffix` wildcards, or `*`. */
  readonly domains: readonly string[]
  /** From `tls.httpsRedirect`: every plain-HTTP request is answered with a 301 to https. */
  readonly requireTls: boolean
  readonly routes: readonly HttpRoute[]
}

/** The routes of one HTTP server group (all plain-HTTP servers of a port, or one TLS server). */
export interface RouteTable {
  /** `http.<port>` for plain HTTP, `https.<port>.<server>` for a TLS server. */
  readonly name: string
  /** Ordered by Istio precedence: exact hosts, then wildcards longest suffix first, then `*`. */
  readonly virtualHosts: readonly VirtualHost[]
}
