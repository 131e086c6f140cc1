import type * as ir from '../../ir/index.js'

/**
 * Header operations of several levels folded into one plan, computed when a snapshot is
 * prepared. Envoy applies the destination's operations, then the route's, each level removing
 * before it adds; the plan is the net effect: which incoming names go, and what is appended.
 */
export interface HeaderPlan {
  /** Incoming headers with these (lower-case) names are not passed on. */
  readonly drop: ReadonlySet<string>
  /** Appended after the incoming headers, in order (one header line each). */
  readonly append: readonly (readonly [string, string])[]
  readonly isEmpty: boolean
}

export const EMPTY_HEADER_PLAN: HeaderPlan = { drop: new Set(), append: [], isEmpty: true }

/** Levels from least to most authoritative: the last one wins a conflict (route over destination). */
export function compileHeaderPlan(levels: readonly ir.HeaderOperations[]): HeaderPlan {
  const drop = new Set<string>()
  let append: (readonly [string, string])[] = []
  for (const ops of levels) {
    for (const name of ops.remove) {
      drop.add(name)
      append = append.filter(([n]) => n !== name)
    }
    for (const [name, value] of ops.set) {
      drop.add(name)
      append = append.filter(([n]) => n !== name)
      append.push([name, value])
    }
    for (const [name, value] of ops.add) append.push([name, value])
  }
  if (drop.size === 0 && append.length === 0) return EMPTY_HEADER_PLAN
  return { drop, append, isEmpty: false }
}
