/** The forward action's destination, by weight; one whose cluster is not in the snapshot is 503 NC. */
import type { PreparedDestination } from '../../prepared.js'
import { Flag } from '../../record/flags.js'
import { sendLocalReply } from '../local-reply.js'
import type { RequestStep } from '../step.js'

interface Destinations {
  readonly list: readonly PreparedDestination[]
  readonly totalWeight: number
}

export const destinationStep: RequestStep<Destinations> = {
  name: 'destination',
  prepare: ({ route, destinations, totalWeight }) =>
    route.action.kind === 'forward' ? { list: destinations, totalWeight } : undefined,
  run(ctx, destinations) {
    const dest = pickDestination(destinations)
    if (dest !== undefined) ctx.destination = dest
    if (dest?.cluster !== undefined) return true
    sendLocalReply(ctx, 503, Flag.NC, 'cluster_not_found')
    return false
  },
}

/** Weighted pick (weights are relative). */
function pickDestination(d: Destinations): PreparedDestination | undefined {
  const ds = d.list
  if (ds.length <= 1) return ds[0]
  let r = Math.random() * d.totalWeight
  for (let i = 0; i < ds.length; i++) {
    r -= ds[i]!.destination.weight
    if (r < 0) return ds[i]
  }
  return ds[ds.length - 1]
}
