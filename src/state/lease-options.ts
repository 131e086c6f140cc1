import type { AcquireOptions } from './ports.js'

/** Throws on limits no store can honour; config validation rejects these earlier. */
export function checkAcquire(max: number, options: AcquireOptions): void {
  if (!Number.isInteger(max) || max < 0) {
    throw new RangeError(`concurrency max must be a non-negative integer, got ${max}`)
  }
  if (!Number.isInteger(options.leaseTtlMs) || options.leaseTtlMs < 3) {
    throw new RangeError(
      `leaseTtlMs must be an integer of at least 3 ms, got ${options.leaseTtlMs}`,
    )
  }
}
