import type { ResponseFlag } from '../../observe/events.js'

/** Response flags as bits; printed in Envoy's order (e.g. `UF,URX`, never `URX,UF`). */
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

const ORDER = Object.entries(Flag) as [ResponseFlag, number][]
const formatted = new Map<number, string>([[0, '-']])

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
