/**
 * What the request path reads of the overload guard: one property, kept current by the guard's
 * own timer, so a request pays a single read and no histogram work.
 */
export interface OverloadSignal {
  readonly isOverloaded: boolean
  /** The `Retry-After` value of a shed request (whole seconds). */
  readonly retryAfter: string
}
