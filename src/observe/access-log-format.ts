/**
 * Compiles an Envoy access-log format (Istio's meshConfig accessLogFormat / accessLogEncoding)
 * into a function from RequestRecord to one log line. All parsing happens here, once; a
 * compiled line is a loop over literal strings and precomputed getters.
 */
import type { RequestRecord } from './events.js'
import { resolveOperator, type OperatorGetter } from './access-log-operators.js'

export type AccessLogEncoding = 'TEXT' | 'JSON'
export type AccessLogFormatter = (rec: RequestRecord) => string

/** A bad format is a value, so config validation can report it with the resource location. */
export type CompiledAccessLogFormat =
  | { readonly ok: true; readonly formatter: AccessLogFormatter }
  | { readonly ok: false; readonly error: string }

/** Istio's default proxy access-log format (EnvoyTextLogFormat in istio/istio). */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ' +
  '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% ' +
  '%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% ' +
  '%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n'

/**
 * Istio's default JSON fields (EnvoyJSONLogFormatIstio), in the order of the text format so the
 * two encodings read alike.
 */
export const DEFAULT_JSON_ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = Object.freeze({
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  route_name: '%ROUTE_NAME%',
})

/**
 * TEXT: `format` is an Envoy format string ('' means Istio's default); a missing trailing newline
 * is added, as Istio does. JSON: `format` is a JSON object of field name to format string ('' or
 * the default text format means Istio's default fields); one object per line.
 */
export function compileAccessLogFormat(
  format: string,
  encoding: AccessLogEncoding = 'TEXT',
): CompiledAccessLogFormat {
  if (encoding === 'TEXT') {
    const text = format === '' ? DEFAULT_ACCESS_LOG_FORMAT : format
    return compileText(text.endsWith('\n') ? text : text + '\n')
  }
  if (format === '' || format === DEFAULT_ACCESS_LOG_FORMAT) {
    return compileJson(DEFAULT_JSON_ACCESS_LOG_FIELDS)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(format)
  } catch (err) {
    return {
      ok: false,
      error: `JSON access-log format is not valid JSON: ${(err as Error).message}`,
    }
  }
  if (!isPlainObject(parsed)) {
    return {
      ok: false,
      error: 'JSON access-log format must be an object of field name to format string',
    }
  }
  return compileJson(parsed)
}

type Token = string | OperatorGetter
/** A piece of output: a literal, or a getter already rendered to text/JSON. */
type Piece = string | ((rec: RequestRecord) => string)

type Tokenized =
  | { readonly ok: true; readonly tokens: readonly Token[] }
  | { readonly ok: false; readonly error: string }

// Envoy's command grammar: %NAME%, %NAME(ARG)%, %NAME(ARG):MAXLEN%.
const COMMAND = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/y

function tokenize(format: string): Tokenized {
  const tokens: Token[] = []
  let literal = ''
  let pos = 0
  while (pos < format.length) {
    const percent = format.indexOf('%', pos)
    if (percent === -1) {
      literal += format.slice(pos)
      break
    }
    literal += format.slice(pos, percent)
    if (format[percent + 1] === '%') {
      literal += '%'
      pos = percent + 2
      continue
    }
    COMMAND.lastIndex = percent
    const match = COMMAND.exec(format)
    if (match === null) {
      const near = format.slice(percent, percent + 24)
      return {
        ok: false,
        error: `malformed access-log operator at offset ${percent}: '${near}' (write %% for a literal %)`,
      }
    }
    const [whole, name, arg, maxLength] = match
    const resolved = resolveOperator(
      name!,
      arg,
      maxLength === undefined ? undefined : Number(maxLength),
    )
    if (!resolved.ok) return { ok: false, error: `${resolved.error} at offset ${percent}` }
    if (literal !== '') tokens.push(literal)
    literal = ''
    tokens.push(resolved.get)
    pos = percent + whole.length
  }
  if (literal !== '') tokens.push(literal)
  return { ok: true, tokens }
}

function compileText(format: string): CompiledAccessLogFormat {
  const tokenized = tokenize(format)
  if (!tokenized.ok) return tokenized
  return { ok: true, formatter: assemble(tokenized.tokens.map(toTextPiece)) }
}

function toTextPiece(token: Token): Piece {
  if (typeof token === 'string') return token
  return (rec) => {
    const value = token(rec)
    return value === undefined ? '-' : typeof value === 'number' ? String(value) : value
  }
}

/**
 * Envoy's JSON formatter keeps types: a value that is exactly one operator renders as a JSON
 * number, string or null; a value that mixes text and operators renders as a string.
 */
function compileJson(fields: Readonly<Record<string, unknown>>): CompiledAccessLogFormat {
  const pieces: Piece[] = []
  const error = appendJsonObject(fields, pieces, '')
  if (error !== undefined) return { ok: false, error }
  pieces.push('\n')
  return { ok: true, formatter: assemble(pieces) }
}

function appendJsonObject(
  fields: Readonly<Record<string, unknown>>,
  pieces: Piece[],
  path: string,
): string | undefined {
  pieces.push('{')
  let separator = ''
  for (const [key, value] of Object.entries(fields)) {
    const where = path === '' ? key : `${path}.${key}`
    pieces.push(separator + JSON.stringify(key) + ':')
    separator = ','
    if (typeof value === 'string') {
      const error = appendJsonString(value, pieces)
      if (error !== undefined) return `field "${where}": ${error}`
    } else if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
      pieces.push(JSON.stringify(value))
    } else if (isPlainObject(value)) {
      const error = appendJsonObject(value, pieces, where)
      if (error !== undefined) return error
    } else {
      return `field "${where}": expected a format string, number, boolean, null or object`
    }
  }
  pieces.push('}')
  return undefined
}

function appendJsonString(format: string, pieces: Piece[]): string | undefined {
  const tokenized = tokenize(format)
  if (!tokenized.ok) return tokenized.error
  const tokens = tokenized.tokens
  const only = tokens[0]
  if (tokens.length === 0) {
    pieces.push('""')
  } else if (tokens.length === 1 && typeof only === 'string') {
    pieces.push(JSON.stringify(only))
  } else if (tokens.length === 1 && only !== undefined && typeof only !== 'string') {
    pieces.push((rec) => {
      const value = only(rec)
      if (value === undefined) return 'null'
      if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null'
      return jsonString(value)
    })
  } else {
    const text = assemble(tokens.map(toTextPiece))
    pieces.push((rec) => jsonString(text(rec)))
  }
  return undefined
}

// Characters JSON.stringify would escape: quote, backslash, control characters, and UTF-16
// surrogates (a lone one becomes \uXXXX). Most values have none and skip the serializer.
// eslint-disable-next-line no-control-regex -- control characters are what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"'
}

/** Merges adjacent literals and returns the per-line function. */
function assemble(pieces: readonly Piece[]): AccessLogFormatter {
  const literals: string[] = []
  const getters: ((rec: RequestRecord) => string)[] = []
  let literal = ''
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      literal += piece
    } else {
      literals.push(literal)
      getters.push(piece)
      literal = ''
    }
  }
  literals.push(literal)
  const head = literals[0]!
  const count = getters.length
  if (count === 0) return () => head
  return (rec) => {
    let line = head
    for (let i = 0; i < count; i++) line += getters[i]!(rec) + literals[i + 1]!
    return line
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
