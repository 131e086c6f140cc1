/** Pure request → routing decision over the IR, shared by the data plane, admin and cli. */
export type { MatchRequest } from './request.js'
export type {
  CompiledRouteTable,
  CompiledVirtualHost,
  CompiledRoute,
  CompiledRequestMatch,
  CompiledHeaderMatch,
  CompiledQueryMatch,
  RouteMatch,
  WildcardDomain,
  HeaderSource,
} from './compile.js'
export { compileRouteTable } from './compile.js'
export { selectVirtualHost } from './select-virtual-host.js'
export { matchRoute } from './match-route.js'
export { explainRequest } from './explain.js'
export type {
  RequestExplanation,
  VirtualHostExplanation,
  RouteExplanation,
  MatchExplanation,
} from './explain.js'
export { InvalidRouteRegexError } from './string-matcher.js'
export type { StringMatcher } from './string-matcher.js'
export { findQueryParam } from './query.js'
export { compileStringMatch, testStringMatch } from './string-matcher.js'
export {
  BLACK_HOLE_CLUSTER,
  PASSTHROUGH_CLUSTER,
  checkEgressAddress,
  compileEgressMatcher,
  decideEgress,
} from './egress.js'
export type { EgressDecision, EgressMatcher, EgressReason, EgressVerdict } from './egress.js'
export { describeRequest } from './describe.js'
export type {
  DescribeInput,
  RequestDescription,
  CandidateNote,
  DestinationNote,
} from './describe.js'
export { formatDescription } from './describe-text.js'
export { parseDescribeInput, type DescribeRequestText } from './describe-input.js'
