/**
 * How a refused egress request is told apart from an upstream's answer: the headers and the short
 * body every mode (outbound proxy, Gateway-port egress, the private-address check) sends.
 */
import type { EgressDecision } from '../../match/index.js'

export const EGRESS_HEADER = 'x-portcullis-egress'
export const EGRESS_REASON_HEADER = 'x-portcullis-egress-reason'

export function denialBody(d: EgressDecision, reason: string): string {
  return `egress denied: ${reason} (${d.host}:${d.port})\n`
}
