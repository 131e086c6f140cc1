/** Header rewrites from Istio's Headers.HeaderOperations. Names are lower case. */
export interface HeaderOperations {
  readonly set: readonly (readonly [string, string])[]
  readonly add: readonly (readonly [string, string])[]
  readonly remove: readonly string[]
}

export interface HeaderRules {
  readonly request: HeaderOperations
  readonly response: HeaderOperations
}
