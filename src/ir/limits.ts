import type { RouteId } from './ids.js'
import type { RequestMatch } from './match.js'
import type { SourceRef } from './source.js'

/** What a rate-limit key is made of, in the order written. */
export type RateLimitKeyPart =
  | { readonly kind: 'clientIp' }
  | { readonly kind: 'host' }
  | { readonly kind: 'route' }
  /** Lower-case header name; a missing header is the empty string. */
  | { readonly kind: 'header'; readonly name: string }

/** One compiled RateLimitPolicy rule: at most `requests` per `periodMs`, burst `requests`. */
export interface RateLimitRule {
  /** The rule's index in `spec.rules`: part of the shared key, so replicas agree on it. */
  readonly index: number
  /** OR of the entries; empty matches every request of the targeted routes. */
  readonly match: readonly RequestMatch[]
  readonly by: readonly RateLimitKeyPart[]
  readonly requests: number
  readonly periodMs: number
  readonly source: SourceRef
}

/** A compiled RateLimitPolicy and the routes it applies to. */
export interface RateLimitPolicy {
  /** `<namespace>/<name>`: the stable part of every key the policy counts under. */
  readonly id: string
  readonly failureMode: 'open' | 'closed'
  /** Count and report, never reject. */
  readonly shadow: boolean
  readonly rules: readonly RateLimitRule[]
  /** Ids of the HTTP routes the targets resolve to, sorted. */
  readonly routes: readonly RouteId[]
  readonly source: SourceRef
}
