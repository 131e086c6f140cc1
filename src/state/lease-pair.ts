import type { AcquireOptions, ConcurrencyLimiter, LeasePair, LeaseRequest } from './ports.js'

/**
 * `acquirePair` as two acquires one after the other, for stores where that costs no round trip
 * (memory), or where the two keys cannot share a call (Redis Cluster: different slots).
 */
export async function acquireOneThenOther(
  limiter: Pick<ConcurrencyLimiter, 'acquire'>,
  first: LeaseRequest,
  second: LeaseRequest,
  options: AcquireOptions,
): Promise<LeasePair> {
  const a = await limiter.acquire(first.key, first.max, options)
  if (a === undefined) return [undefined, undefined]
  try {
    return [a, await limiter.acquire(second.key, second.max, options)]
  } catch (err) {
    // All or nothing on failure: the caller decides both again (locally).
    await a.release()
    throw err
  }
}
