/**
 * The request step contract. A step is one per-request policy in one file:
 *
 * - `prepare(inputs)` runs once per route when a snapshot is prepared (prepare-snapshot.ts) and returns the
 *   state the step needs for that route, or undefined when the route does not use it: the route
 *   then never runs the step, so an unused policy costs a request nothing.
 * - `run(ctx, state, next)` runs per request. It returns true to go on to the next step right
 *   away, or false when it has answered the request (a local reply) or will call `next(ctx)`
 *   exactly once later (a timer, the rate-limit store, the request body). `next` is always the
 *   same module-level function, so a step allocates no closure to continue.
 *
 * order.ts holds the one ordered list of steps that executes, with why each sits where it does.
 */
import type * as ir from '../../ir/index.js'
import type { RequestTracer } from '../../observe/events.js'
import type { PreparedDestination, PreparedStep } from '../prepared.js'
import type { ClusterRuntime } from '../upstream/cluster-runtime.js'
import type { RequestContext } from './context.js'
import type { PreparedRateLimits } from './rate-limit-policy.js'
import type { PreparedRetry } from './retry-policy.js'

/** Continues the request with the step after the one that called it. */
export type Next = (ctx: RequestContext) => void

/** What a step's prepare may read about one route of the snapshot being prepared. */
export interface StepInputs {
  readonly route: ir.HttpRoute
  readonly destinations: readonly PreparedDestination[]
  readonly totalWeight: number
  readonly retry: PreparedRetry
  readonly clusters: ReadonlyMap<ir.ClusterId, ClusterRuntime>
  /** The RateLimitPolicy rules on this route, if any. */
  readonly rateLimits: PreparedRateLimits | undefined
  /** The snapshot's tracer; absent when tracing is off (the trace steps prepare nothing). */
  readonly tracer?: RequestTracer | undefined
}

export interface RequestStep<S> {
  /** The step's name in order.ts and in docs/architecture.md. */
  readonly name: string
  prepare(inputs: StepInputs): S | undefined
  run(ctx: RequestContext, state: S, next: Next): boolean
}

/** The steps a route uses, each with its prepared state, in the order given. */
export function prepareSteps(
  steps: readonly RequestStep<unknown>[],
  inputs: StepInputs,
): PreparedStep[] {
  const used: PreparedStep[] = []
  for (const step of steps) {
    const state = step.prepare(inputs)
    if (state !== undefined) used.push({ name: step.name, state, step })
  }
  return used
}
