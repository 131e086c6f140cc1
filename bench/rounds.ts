// With --repeat the target list runs several times, interleaved; a comparison between two
// targets is then made within each round (the two ran minutes apart at most) and summed up as
// the median of the rounds, which one slow patch of a shared machine does not move.
import type { TargetResult } from './report.js'
import type { Target } from './options.js'

export interface RoundPair {
  round: number
  a: TargetResult
  b: TargetResult
}

/** The rounds in which both targets were measured. */
export function pairsByRound(results: readonly TargetResult[], a: Target, b: Target): RoundPair[] {
  const pairs: RoundPair[] = []
  for (const ra of results) {
    if (ra.target !== a || ra.load === undefined) continue
    const rb = results.find((r) => r.target === b && r.round === ra.round)
    if (rb?.load !== undefined) pairs.push({ round: ra.round, a: ra, b: rb })
  }
  return pairs
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
