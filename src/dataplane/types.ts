/** Contracts between the listener layer (listeners/) and the HTTP request path (http/). */
import type * as ir from '../ir/index.js'
import type { EgressMatcher } from '../match/index.js'

/**
 * Egress listeners (the outbound route tables, egress.httpPorts default routes): the address a
 * destination's cluster resolved is checked against the allowlist before any connection.
 */
export interface EgressGuard {
  readonly matcher: EgressMatcher
}

/** What a request needs to know about the listener it arrived on. Built once per listener. */
export interface ListenerContext {
  readonly id: ir.ListenerId
  readonly address: string
  readonly port: number
  readonly scheme: 'http' | 'https'
  /** Set on egress listeners only. */
  readonly egress?: EgressGuard
}
