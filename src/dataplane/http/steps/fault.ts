/**
 * Fault injection (Istio HTTPFaultInjection), two steps as Envoy's fault filter runs them: a
 * delay (DI), then maybe an abort (FI, never retried). The route timeout starts after the
 * delay, as in Envoy where the fault filter runs before the router.
 */
import type * as ir from '../../../ir/index.js'
import { Flag } from '../../record/flags.js'
import { LocalReplyBody, sendLocalReply } from '../local-reply.js'
import type { RequestStep } from '../step.js'

type Delay = NonNullable<ir.FaultPolicy['delay']>
type Abort = NonNullable<ir.FaultPolicy['abort']>

export const faultDelayStep: RequestStep<Delay> = {
  name: 'fault-delay',
  prepare: ({ route }) => route.fault?.delay,
  run(ctx, delay, next) {
    if (!isSelected(delay.percent)) return true
    ctx.flags |= Flag.DI
    ctx.holds.wait(delay.fixedDelayMs, next, ctx)
    return false
  },
}

export const faultAbortStep: RequestStep<Abort> = {
  name: 'fault-abort',
  prepare: ({ route }) => route.fault?.abort,
  run(ctx, abort) {
    if (!isSelected(abort.percent)) return true
    sendLocalReply(ctx, abort.httpStatus, Flag.FI, 'fault_filter_abort', LocalReplyBody.faultAbort)
    return false
  },
}

/** Percentages are doubles; Envoy resolves them to one part per million. */
function isSelected(percent: number): boolean {
  return percent >= 100 || (percent > 0 && Math.random() * 100 < percent)
}
