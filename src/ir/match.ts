/** Request matching as compiled from Istio's HTTPMatchRequest. Pure data; match/ executes it. */

export type StringMatch =
  | { readonly kind: 'exact'; readonly value: string }
  /** A raw string prefix: `/status` matches `/statusfoo` (Istio, not path-segment semantics). */
  | { readonly kind: 'prefix'; readonly value: string }
  /** RE2-compatible pattern, anchored on both ends (Envoy's safe_regex full match). */
  | { readonly kind: 'regex'; readonly regex: string }
  /** `{}` or `regex: "*"` in Istio: the value only has to be present. */
  | { readonly kind: 'present' }

export interface HeaderMatch {
  /** Lower-case header name; may be a pseudo-header such as `:method`. */
  readonly name: string
  readonly match: StringMatch
  /** From `withoutHeaders`: the match is inverted and a missing header counts as empty. */
  readonly invert: boolean
}

export interface QueryParamMatch {
  readonly name: string
  readonly match: StringMatch
}

/** One HTTPMatchRequest: every set condition must hold (AND). */
export interface RequestMatch {
  readonly name?: string
  readonly uri?: StringMatch
  /** Only for exact and prefix uri matches (Istio `ignoreUriCase`). */
  readonly ignoreUriCase: boolean
  readonly scheme?: StringMatch
  readonly method?: StringMatch
  readonly authority?: StringMatch
  readonly headers: readonly HeaderMatch[]
  readonly queryParams: readonly QueryParamMatch[]
}
