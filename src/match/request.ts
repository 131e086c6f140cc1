/**
 * The parts of an HTTP request that routing looks at. The data plane implements it over a live
 * request; admin and cli build one from a description. Header names are lower case.
 */
export interface MatchRequest {
  readonly method: string
  /** The path without the query string. */
  readonly path: string
  /** The raw query string after `?` ('' when there is none). */
  readonly query: string
  readonly scheme: string
  /** The Host/:authority value as sent, port included. */
  readonly authority: string
  /** A regular (non-pseudo) header; several values are joined with ','. */
  header(name: string): string | undefined
}
