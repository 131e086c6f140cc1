/**
 * When to renew and how long to wait after a failure. Renewal is due `renewBefore` before
 * notAfter (cert-manager's default: a third of the lifetime), moved earlier by up to a tenth of
 * that window at random so a fleet's certificates do not all renew in the same second. Failures
 * back off exponentially from 5 s to 1 h, with ±20 % jitter.
 */

export interface Validity {
  readonly notBeforeMs: number
  readonly notAfterMs: number
}

export function renewalWindowMs(v: Validity, renewBeforeMs: number | undefined): number {
  const lifetime = Math.max(0, v.notAfterMs - v.notBeforeMs)
  return renewBeforeMs !== undefined ? Math.min(renewBeforeMs, lifetime) : lifetime / 3
}

/** `random` in [0, 1). */
export function renewalAtMs(
  v: Validity,
  renewBeforeMs: number | undefined,
  random: number,
): number {
  const window = renewalWindowMs(v, renewBeforeMs)
  return v.notAfterMs - window - random * window * 0.1
}

const BACKOFF_MIN_MS = 5_000
const BACKOFF_MAX_MS = 3_600_000

/** Delay before attempt `failures + 1`; `random` in [0, 1). */
export function backoffMs(failures: number, random: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1))
  return Math.round(base * (0.8 + random * 0.4))
}
