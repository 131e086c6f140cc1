/**
 * Envoy access-log command operators (%NAME(ARG):N%) resolved to getters over a RequestRecord.
 * Resolution happens once per format; the getters are what runs per line.
 * Reference: https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { RequestRecord } from './events.js'

/** A value for one operator; undefined means "not available" (printed '-' in text, null in JSON). */
export type OperatorValue = string | number | undefined
export type OperatorGetter = (rec: RequestRecord) => OperatorValue

export type ResolvedOperator =
  | { readonly ok: true; readonly get: OperatorGetter }
  | { readonly ok: false; readonly error: string }

const notAvailable: OperatorGetter = () => undefined

// Envoy prints '-' for an absent value; record fields use '' and undefined for "absent".
function presentOrUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

/** Operators that take no argument; each entry builds a fresh getter (some keep a cache). */
const PLAIN_OPERATORS: ReadonlyMap<string, () => OperatorGetter> = new Map<
  string,
  () => OperatorGetter
>([
  ['START_TIME', createStartTimeGetter],
  ['PROTOCOL', () => (r) => presentOrUndefined(r.protocol)],
  ['RESPONSE_CODE', () => (r) => r.status],
  ['RESPONSE_FLAGS', () => (r) => presentOrUndefined(r.responseFlags)],
  ['RESPONSE_CODE_DETAILS', () => (r) => presentOrUndefined(r.responseCodeDetails)],
  ['CONNECTION_TERMINATION_DETAILS', () => notAvailable],
  [
    'UPSTREAM_TRANSPORT_FAILURE_REASON',
    () => (r) => presentOrUndefined(r.upstreamTransportFailureReason),
  ],
  ['BYTES_RECEIVED', () => (r) => r.bytesReceived],
  ['BYTES_SENT', () => (r) => r.bytesSent],
  // Envoy truncates durations to whole milliseconds.
  ['DURATION', () => (r) => Math.trunc(r.durationMs)],
  ['UPSTREAM_SERVICE_TIME', () => upstreamServiceTime],
  ['UPSTREAM_HOST', () => (r) => presentOrUndefined(r.upstreamHost)],
  ['UPSTREAM_CLUSTER', () => (r) => presentOrUndefined(r.upstreamCluster)],
  ['UPSTREAM_LOCAL_ADDRESS', () => notAvailable],
  ['DOWNSTREAM_LOCAL_ADDRESS', () => (r) => presentOrUndefined(r.downstreamLocalAddress)],
  ['DOWNSTREAM_REMOTE_ADDRESS', () => (r) => presentOrUndefined(r.downstreamRemoteAddress)],
  ['REQUESTED_SERVER_NAME', () => (r) => presentOrUndefined(r.requestedServerName)],
  ['ROUTE_NAME', () => (r) => presentOrUndefined(r.routeName)],
])

/** Names accepted by resolveOperator, for error messages and docs. */
export const SUPPORTED_OPERATORS: readonly string[] = [...PLAIN_OPERATORS.keys(), 'REQ', 'RESP']

function upstreamServiceTime(r: RequestRecord): OperatorValue {
  const ms = r.upstreamServiceTimeMs
  return ms === undefined ? undefined : Math.trunc(ms)
}

/**
 * Resolves one operator. `arg` is the text between the parentheses (undefined when there were
 * none); `maxLength` is the `:N` suffix, which truncates string values as Envoy does.
 */
export function resolveOperator(
  name: string,
  arg: string | undefined,
  maxLength: number | undefined,
): ResolvedOperator {
  const resolved = resolveUntruncated(name, arg)
  if (!resolved.ok || maxLength === undefined) return resolved
  return { ok: true, get: truncating(resolved.get, maxLength) }
}

function resolveUntruncated(name: string, arg: string | undefined): ResolvedOperator {
  if (name === 'REQ' || name === 'RESP') return resolveHeaderOperator(name, arg)
  const create = PLAIN_OPERATORS.get(name)
  if (create === undefined) {
    return { ok: false, error: `unsupported access-log operator %${name}%` }
  }
  if (arg !== undefined) {
    const why = name === 'START_TIME' ? ' (custom time formats are not supported)' : ''
    return { ok: false, error: `%${name}% takes no argument, got (${arg})${why}` }
  }
  return { ok: true, get: create() }
}

function resolveHeaderOperator(name: 'REQ' | 'RESP', arg: string | undefined): ResolvedOperator {
  if (arg === undefined || arg.trim() === '') {
    return { ok: false, error: `%${name}(...)% needs a header name, e.g. %${name}(USER-AGENT)%` }
  }
  const names = arg.split('?').map((h) => h.trim().toLowerCase())
  if (names.length > 2 || names.some((h) => h === '')) {
    return {
      ok: false,
      error: `%${name}(${arg})%: expected HEADER or HEADER?ALTERNATIVE (one alternative at most)`,
    }
  }
  const getters = names.map(name === 'REQ' ? requestHeaderGetter : responseHeaderGetter)
  const primary = getters[0]!
  const alternative = getters[1]
  if (alternative === undefined) return { ok: true, get: primary }
  return {
    ok: true,
    get: (r) => {
      const value = primary(r)
      return value === undefined ? alternative(r) : value
    },
  }
}

/**
 * Request headers are read from the record as the client sent them, except the ones Envoy
 * fills in itself: pseudo-headers come from record fields, x-request-id is the id the gateway
 * used (received or generated), and x-envoy-original-path is the path before any rewrite, which
 * is what the record keeps (never a client-supplied header, which could forge the log line).
 */
function requestHeaderGetter(name: string): OperatorGetter {
  switch (name) {
    case ':method':
      return (r) => presentOrUndefined(r.method)
    case ':path':
    case 'x-envoy-original-path':
      return (r) => presentOrUndefined(r.path)
    case ':authority':
    case 'host':
      return (r) => presentOrUndefined(r.authority)
    case ':scheme':
      return (r) => r.scheme
    case 'x-request-id':
      return (r) => presentOrUndefined(r.requestId)
    default:
      return (r) => incomingHeaderValue(r.requestHeaders, name)
  }
}

function responseHeaderGetter(name: string): OperatorGetter {
  // Envoy sets this header on proxied responses; the data plane reports the same number as a
  // field, so the log shows it whether or not the header was written.
  if (name === 'x-envoy-upstream-service-time') {
    return (r) => {
      const sent = outgoingHeaderValue(r.responseHeaders, name)
      if (sent !== undefined) return sent
      const ms = r.upstreamServiceTimeMs
      return ms === undefined ? undefined : String(Math.trunc(ms))
    }
  }
  return (r) => outgoingHeaderValue(r.responseHeaders, name)
}

function incomingHeaderValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  if (typeof value === 'string' || value === undefined) return value
  return value.join(',')
}

/** Header names are looked up in lower case, as node's getHeaders() returns them. */
function outgoingHeaderValue(
  headers: OutgoingHttpHeaders | undefined,
  name: string,
): string | undefined {
  if (headers === undefined) return undefined
  const value = headers[name]
  if (typeof value === 'string' || value === undefined) return value
  if (typeof value === 'number') return String(value)
  return value.join(',')
}

function truncating(get: OperatorGetter, maxLength: number): OperatorGetter {
  return (r) => {
    const value = get(r)
    return typeof value === 'string' && value.length > maxLength ? value.slice(0, maxLength) : value
  }
}

// Date#toISOString throws outside ±8.64e15 ms; such a start time is a bug, not a reason to crash.
const MAX_DATE_MS = 8.64e15

/**
 * %START_TIME% in Envoy's default form (ISO-8601, UTC, milliseconds). The date part is formatted
 * once per second and reused, so a busy second costs a string concat per line.
 */
function createStartTimeGetter(): OperatorGetter {
  let cachedSecond = Number.NaN
  let prefix = ''
  return (r) => {
    const ms = Math.floor(r.startTime)
    if (!(Math.abs(ms) <= MAX_DATE_MS)) return undefined
    const second = Math.floor(ms / 1000)
    if (second !== cachedSecond) {
      // 'YYYY-MM-DDTHH:MM:SS.' — everything before the milliseconds.
      prefix = new Date(second * 1000).toISOString().slice(0, -4)
      cachedSecond = second
    }
    const millis = ms - second * 1000
    return prefix + (millis < 10 ? '00' : millis < 100 ? '0' : '') + String(millis) + 'Z'
  }
}
