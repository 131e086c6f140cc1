/** The consistent-hash key of clusters that balance by one, hashed once per request. */
import { requestHash } from '../hash-key.js'
import type { RequestStep } from '../step.js'

export const hashKeyStep: RequestStep<true> = {
  name: 'hash-key',
  prepare: ({ destinations }) =>
    destinations.some((d) => d.cluster?.hashKey !== undefined) ? true : undefined,
  run(ctx) {
    const key = ctx.destination?.cluster?.hashKey
    if (key !== undefined) ctx.hash = requestHash(ctx, key)
    return true
  },
}
