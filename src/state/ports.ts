/**
 * The limit ports: what the data plane calls to ask "may this request / connection go ahead?".
 * This file is the only part of state/ the data plane imports; the adapters behind it (memory,
 * Redis) are built by the runtime through state/index.ts. See state/README.md for the algorithm
 * and the exact admission bound.
 */

/**
 * What a limit does when its store cannot answer (Redis down or slower than its command
 * timeout). `open` decides with a local in-memory limiter; `closed` answers with an error
 * decision (the data plane replies 500, flag RLSE, like Envoy's `failure_mode_deny`).
 */
export type FailureMode = 'open' | 'closed'

/** A rate limit: at most `limit` units per `periodMs`, with a burst of `limit`. */
export interface RateRule {
  /** Positive integer. Also the burst: a fresh key admits `limit` units at once. */
  readonly limit: number
  /** Positive; the time for an empty bucket to become full again. */
  readonly periodMs: number
  /** Default 'open'. */
  readonly failureMode?: FailureMode
}

/** The answer to one `consume`. Every field is always present (one object shape). */
export interface RateDecision {
  readonly allowed: boolean
  readonly limit: number
  /** Units that could still be consumed right now after this decision. */
  readonly remaining: number
  /** Milliseconds until the bucket is full again (a fresh key would behave the same). */
  readonly resetMs: number
  /** Milliseconds until a request of the same cost would be admitted; 0 when allowed. */
  readonly retryAfterMs: number
  /**
   * True when the store could not decide and the rule fails closed: not a 429, a 500 RLSE.
   * `allowed` is false then.
   */
  readonly error: boolean
}

export interface RateLimiter {
  /**
   * Takes `cost` units (default 1, a non-negative integer) from the bucket of `key`, or none
   * when they do not fit. The memory store (and a Redis store while degraded) answers with a
   * plain value, so callers can skip the await; otherwise a promise. Stores made by
   * `createLimitStore` never reject: a store failure becomes a decision (see FailureMode).
   */
  consume(key: string, rule: RateRule, cost?: number): Promise<RateDecision> | RateDecision
}

export interface AcquireOptions {
  /**
   * How long a lease outlives its holder. A live holder renews it (heartbeat every third of
   * this), so it only expires when the holder died or lost the store for that long.
   */
  readonly leaseTtlMs: number
  /** Default 'open'. Closed: a store failure refuses (acquire returns undefined). */
  readonly failureMode?: FailureMode
}

/** One lease of `acquirePair`: at most `max` held for `key`. */
export interface LeaseRequest {
  readonly key: string
  readonly max: number
}

/** What `acquirePair` got: the second is undefined whenever the first is. */
export type LeasePair = readonly [first: Lease | undefined, second: Lease | undefined]

/** One held slot of a concurrency limit. */
export interface Lease {
  readonly key: string
  /**
   * Gives the slot back. Safe to call more than once (later calls do nothing) and never
   * rejects: if the store cannot be reached the lease simply expires after its TTL.
   */
  release(): Promise<void>
}

export interface ConcurrencyLimiter {
  /**
   * A lease when fewer than `max` are held for `key` (across every replica), else undefined.
   * Stores made by `createLimitStore` never reject (a fail-closed store failure is undefined).
   */
  acquire(key: string, max: number, options: AcquireOptions): Promise<Lease | undefined>
  /**
   * Two leases one request needs, in order: `second` is tried only when `first` was acquired
   * (each exactly like `acquire`). The Redis store decides both in one script call, where
   * taking them one after the other would cost two round trips.
   */
  acquirePair(
    first: LeaseRequest,
    second: LeaseRequest,
    options: AcquireOptions,
  ): Promise<LeasePair>
  /** Live leases for `key` (metrics and tests). Never negative. */
  count(key: string): Promise<number>
}

export type LimitStoreHealth = 'ok' | 'degraded'

export interface LimitStore {
  readonly rate: RateLimiter
  readonly concurrency: ConcurrencyLimiter
  /** 'degraded' while the shared store is unreachable and decisions are made locally. */
  health(): LimitStoreHealth
  /**
   * Stops heartbeats and timers and closes connections. Held leases are not released (release
   * them first for an orderly exit); the store lets them expire after their TTL.
   */
  close(): Promise<void>
}
