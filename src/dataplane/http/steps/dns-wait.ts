/** Only the first requests to a DNS cluster wait, until its first answer is in. */
import type { RequestStep } from '../step.js'

export const dnsWaitStep: RequestStep<true> = {
  name: 'dns-wait',
  prepare: ({ route }) => (route.action.kind === 'forward' ? true : undefined),
  run(ctx, _state, next) {
    const resolving = ctx.destination?.cluster?.resolving
    if (resolving === undefined) return true
    const go = (): void => next(ctx)
    resolving.then(go, go)
    return false
  },
}
