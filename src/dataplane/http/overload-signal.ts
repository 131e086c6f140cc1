/**
 * What the request path reads of the overload guard: one property, kept current by the guard's
 * own timer, so a request pays a single read and no histogram work; and, with a cap on requests
 * in progress, the one process-wide count the request path keeps for it.
 */
export interface OverloadSignal {
  readonly isOverloaded: boolean
  /** The `Retry-After` value of a shed request (whole seconds). */
  readonly retryAfter: string
  /** Requests in progress at which the next one is shed; 0: no cap, nothing is counted. */
  readonly maxActiveRequests: number
  /**
   * Requests admitted under the cap and not finished yet. Only the request path writes it: one
   * more when the cap admits a request, one less when its holds are released.
   */
  activeRequests: number
}
