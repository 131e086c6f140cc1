/**
 * The one representation of Envoy response flags in the data plane: a bit set. Every mode (HTTP
 * exchanges, listener rejections, egress replies, L4 connections) ORs bits into a number and the
 * record prints them once, in Envoy's order (e.g. `UF,URX`, never `URX,UF`).
 */
import type { ResponseFlag } from '../../observe/events.js'

/** Bit per flag. Existing bits never move: logs and dashboards compare printed names only, but
 * flags.test.ts keeps each flag on a bit of its own. */
export const Flag = {
  UH: 1 << 0,
  UT: 1 << 1,
  UF: 1 << 2,
  UC: 1 << 3,
  UO: 1 << 4,
  NR: 1 << 5,
  DI: 1 << 6,
  FI: 1 << 7,
  RL: 1 << 8,
  RLSE: 1 << 9,
  DC: 1 << 10,
  URX: 1 << 11,
  DPE: 1 << 12,
  UPE: 1 << 15,
  NC: 1 << 13,
  OM: 1 << 16,
  EG: 1 << 14,
  SI: 1 << 17,
} as const satisfies Record<ResponseFlag, number>

/** What each flag means, for docs/diagnostics.md (generated from this table by a test). */
export const FLAG_MEANINGS: Readonly<Record<ResponseFlag, string>> = {
  UH: 'no healthy upstream endpoint',
  UT: 'upstream request timeout',
  UF: 'upstream connection failure',
  UC: 'upstream connection terminated',
  UO: 'upstream overflow (circuit breaker)',
  NR: 'no route',
  DI: 'the request was delayed by a fault',
  FI: 'the request was aborted by a fault',
  RL: 'rate limited',
  RLSE: 'rate-limit service error (failing closed)',
  DC: 'downstream connection terminated',
  URX: 'retries exhausted',
  DPE: 'downstream protocol error (malformed request refused before routing)',
  UPE: 'upstream protocol error (malformed response)',
  NC: 'no cluster (unknown host or subset)',
  OM: 'overload manager: shed before routing',
  EG: 'egress denied by the outbound traffic policy (Portcullis)',
  SI: 'stream idle timeout, or a request body slower than the minimum rate',
}

const ORDER = Object.entries(Flag) as [ResponseFlag, number][]
const formatted = new Map<number, string>([[0, '-']])

/** `-` for none, else the names joined with `,`. Cached per bit set (there are few). */
export function formatFlags(bits: number): string {
  let s = formatted.get(bits)
  if (s === undefined) {
    s = ORDER.filter(([, bit]) => (bits & bit) !== 0)
      .map(([name]) => name)
      .join(',')
    formatted.set(bits, s)
  }
  return s
}
