/**
 * Checks a parsed HTTP/1 request head for what Node's parser lets through but an edge proxy must
 * refuse (hardening.md §2.3): framing and routing ambiguities that let a client smuggle a second
 * request or a different Host past routing. Runs on every request before the handler, so it is
 * one pass over rawHeaders with no allocation on the accept path.
 */
import type { IncomingMessage } from 'node:http'
import type { Rejection } from './rejections.js'
import { REJECT } from './rejections.js'

export interface GuardSettings {
  readonly maxHeaderCount: number
  readonly headersWithUnderscores: 'REJECT' | 'DROP' | 'ALLOW'
}

/** The parts of an IncomingMessage the guard reads. */
export interface RequestHead {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly httpVersionMajor: number
  readonly httpVersionMinor: number
  readonly rawHeaders: readonly string[]
}

/** Accepted, but header names with `_` must be dropped first (headersWithUnderscores DROP). */
export const DROP_UNDERSCORE_HEADERS = 'drop-underscore-headers'

export type Verdict = Rejection | typeof DROP_UNDERSCORE_HEADERS | undefined

export function inspectRequest(req: RequestHead, settings: GuardSettings): Verdict {
  const raw = req.rawHeaders
  // rawHeaders holds every field Node collected (the listener sets maxHeadersCount one above our
  // limit so an excess is visible here instead of silently dropped).
  if (raw.length > settings.maxHeaderCount * 2) return REJECT.tooManyHeaders
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return REJECT.unsupportedVersion

  let hostCount = 0
  let host: string | undefined
  let teCount = 0
  let te = ''
  let expectCount = 0
  let expect = ''
  let hasContentLength = false
  let hasH2cUpgrade = false
  let hasUnderscore = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? ''
    switch (name.length) {
      case 4:
        if (isNamed(name, 'host')) {
          hostCount++
          host = raw[i + 1]
        }
        break
      case 6:
        if (isNamed(name, 'expect')) {
          expectCount++
          expect = raw[i + 1] ?? ''
        }
        break
      case 7:
        if (isNamed(name, 'upgrade') && hasToken(raw[i + 1] ?? '', 'h2c')) hasH2cUpgrade = true
        break
      case 14:
        if (isNamed(name, 'content-length')) hasContentLength = true
        break
      case 17:
        if (isNamed(name, 'transfer-encoding')) {
          teCount++
          te = raw[i + 1] ?? ''
        }
        break
    }
    if (!hasUnderscore && name.includes('_')) hasUnderscore = true
  }

  // RFC 9112 §3.2: more than one Host is a 400; Node keeps the first and drops the rest.
  if (hostCount > 1) return REJECT.duplicateHost
  if (hostCount === 0 && req.httpVersionMinor === 1) return REJECT.missingHost
  const target = inspectTarget(req.method ?? '', req.url ?? '', host)
  if (target !== undefined) return target
  // Upstreams that map `_` to `-` would see a different header than we routed on
  // (`Transfer_Encoding` becomes a second framing header).
  if (hasUnderscore && settings.headersWithUnderscores === 'REJECT') return REJECT.underscore
  if (teCount > 0) {
    const framing = inspectTransferEncoding(te, teCount, req.httpVersionMinor, hasContentLength)
    if (framing !== undefined) return framing
  }
  // h2c would tunnel HTTP/2 past per-request routing and access control.
  if (hasH2cUpgrade) return REJECT.h2cUpgrade
  if (expectCount > 0 && (expectCount > 1 || !isContinueExpectation(expect))) {
    return REJECT.expectationFailed
  }
  return hasUnderscore && settings.headersWithUnderscores === 'DROP'
    ? DROP_UNDERSCORE_HEADERS
    : undefined
}

/** True for the one expectation we honour (the listener answers it with 100 Continue). */
export function isContinueExpectation(value: string): boolean {
  return trimOws(value).toLowerCase() === '100-continue'
}

function inspectTarget(method: string, url: string, host: string | undefined): Verdict {
  if (url.length === 0) return REJECT.invalidTarget
  const bad = scanTarget(url)
  if (bad !== undefined) return bad
  if (url.charCodeAt(0) === SLASH) return undefined
  if (url === '*') return method === 'OPTIONS' ? undefined : REJECT.invalidTarget
  return inspectAbsoluteForm(url, host)
}

const SLASH = 0x2f
const HASH = 0x23

// Node's parser already refuses most of these; checking again keeps the guarantee ours.
function scanTarget(url: string): Verdict {
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === HASH) return REJECT.fragment
    if (c <= 0x20 || c >= 0x7f) return REJECT.invalidTarget
  }
  return undefined
}

// RFC 9112 §3.2.2: with absolute-form the authority in the target wins over Host. We require the
// two to agree so every later stage can route on Host alone.
function inspectAbsoluteForm(url: string, host: string | undefined): Verdict {
  const sep = url.indexOf('://')
  if (sep < 0) return REJECT.invalidTarget
  const scheme = url.slice(0, sep).toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') return REJECT.invalidTarget
  const start = sep + 3
  let end = start
  while (end < url.length) {
    const c = url.charCodeAt(end)
    if (c === SLASH || c === 0x3f /* ? */) break
    end++
  }
  const authority = url.slice(start, end)
  if (authority.length === 0 || authority.includes('@')) return REJECT.invalidTarget
  if (host === undefined) return undefined
  const defaultPort = scheme === 'https' ? ':443' : ':80'
  return withoutPort(authority.toLowerCase(), defaultPort) ===
    withoutPort(trimOws(host).toLowerCase(), defaultPort)
    ? undefined
    : REJECT.hostMismatch
}

function withoutPort(authority: string, defaultPort: string): string {
  return authority.endsWith(defaultPort) ? authority.slice(0, -defaultPort.length) : authority
}

// RFC 9112 §6.1/§6.3. Node accepts `gzip, chunked`, `identity, chunked` and several TE lines as
// chunked; an upstream that reads them differently would frame the body differently.
function inspectTransferEncoding(
  value: string,
  lines: number,
  minor: number,
  hasContentLength: boolean,
): Verdict {
  if (minor === 0) return REJECT.transferEncodingHttp10
  if (hasContentLength) return REJECT.contentLengthAndChunked
  if (lines > 1) return REJECT.invalidTransferEncoding
  const codings = trimOws(value).toLowerCase()
  if (codings === 'chunked') return undefined
  const list = codings.split(',')
  const last = list.length - 1
  for (let i = 0; i <= last; i++) {
    const coding = trimOws(list[i] ?? '')
    if (coding === '' || (coding === 'chunked') !== (i === last)) {
      return REJECT.invalidTransferEncoding
    }
  }
  return REJECT.unsupportedTransferEncoding
}

function isNamed(name: string, lower: string): boolean {
  return name === lower || name.toLowerCase() === lower
}

function hasToken(list: string, token: string): boolean {
  for (const item of list.split(',')) {
    if (trimOws(item).toLowerCase() === token) return true
  }
  return false
}

// OWS is SP / HTAB only (RFC 9110 §5.6.3); String.prototype.trim also strips other whitespace.
function trimOws(s: string): string {
  let start = 0
  let end = s.length
  while (start < end && isOws(s.charCodeAt(start))) start++
  while (end > start && isOws(s.charCodeAt(end - 1))) end--
  return start === 0 && end === s.length ? s : s.slice(start, end)
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09
}

/**
 * Removes header fields whose name contains `_` (headersWithUnderscores DROP, nginx's default).
 * Node builds `headers` and `headersDistinct` lazily from rawHeaders with a count fixed at parse
 * time, so both views are materialised before rawHeaders shrinks, then pruned.
 */
export function dropUnderscoreHeaders(req: IncomingMessage): void {
  const headers = req.headers
  const distinct = req.headersDistinct
  const raw = req.rawHeaders
  const kept: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? ''
    if (name.includes('_')) {
      const key = name.toLowerCase()
      // Reflect.deleteProperty: the keys are client-chosen, never a fixed property name.
      Reflect.deleteProperty(headers, key)
      Reflect.deleteProperty(distinct, key)
    } else {
      kept.push(name, raw[i + 1] ?? '')
    }
  }
  req.rawHeaders = kept
}
