import type { RequestContext } from './context.js'
import { Flag } from '../record/flags.js'
import { Details } from '../record/details.js'
import { sendLocalReply } from './local-reply.js'
import type { OverloadSignal } from './overload-signal.js'

/** Envoy's overload manager answer (stop_accepting_requests): 503 "envoy overloaded", OM. */
export function shedOverloaded(ctx: RequestContext, signal: OverloadSignal): void {
  sendLocalReply(ctx, 503, Flag.OM, Details.overload, 'envoy overloaded', undefined, [
    'retry-after',
    signal.retryAfter,
  ])
}
