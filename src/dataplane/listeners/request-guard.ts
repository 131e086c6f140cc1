/**
 * Checks a parsed HTTP/1 request head for what Node's parser lets through but an edge proxy must
 * refuse (hardening.md §2.3): framing and routing ambiguities that let a client smuggle a second
 * request or a different Host past routing. Runs on every request before the handler, so it is
 * one pass over rawHeaders with no allocation on the accept path. The target and Host go through
 * the check HTTP/2 requests get too (request-target.ts), which also normalizes the path.
 */
import type { IncomingMessage } from 'node:http'
import type { Rejection } from './rejections.js'
import { REJECT } from './rejections.js'
import {
  admitRequestTarget,
  isValidAuthority,
  trimOws,
  type TargetSettings,
} from './request-target.js'

export interface GuardSettings extends TargetSettings {
  readonly maxHeaderCount: number
  /** Request header fields, names and values, in bytes (431 above it). */
  readonly maxHeaderBytes: number
  readonly headersWithUnderscores: 'REJECT' | 'DROP' | 'ALLOW'
}

/** The parts of an IncomingMessage the guard reads; `url` is rewritten to its normalized form. */
export interface RequestHead {
  readonly method?: string | undefined
  url?: string | undefined
  readonly httpVersionMajor: number
  readonly httpVersionMinor: number
  readonly rawHeaders: readonly string[]
}

/** Accepted, but header names with `_` must be dropped first (headersWithUnderscores DROP). */
export const DROP_UNDERSCORE_HEADERS = 'drop-underscore-headers'

export type Verdict = Rejection | typeof DROP_UNDERSCORE_HEADERS | undefined

/**
 * The guard's verdict on `req`. When the request is admitted, `req.url` is left holding the
 * normalized target, the one every later stage reads.
 */
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
  let headerBytes = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? ''
    // `name: value\r\n`, as they came (Node's own limit is raised by maxUriBytes to let a long
    // target reach the 414 below, so the header block is measured here).
    headerBytes += name.length + (raw[i + 1] ?? '').length + 4
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
  if (headerBytes > settings.maxHeaderBytes) return REJECT.headersTooLarge
  if (hostCount > 1) return REJECT.duplicateHost
  const url = req.url ?? ''
  const isConnect = req.method === 'CONNECT'
  // A CONNECT names its authority in the target (RFC 9110 §9.3.6); Host adds nothing to route on.
  if (hostCount === 0 && req.httpVersionMinor === 1 && !isConnect) return REJECT.missingHost
  const target = isConnect
    ? admitConnectTarget(url, host, settings)
    : admitRequestTarget(req.method ?? '', url, host, settings)
  if (typeof target !== 'string') return target
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
  if (target !== url) req.url = target
  return hasUnderscore && settings.headersWithUnderscores === 'DROP'
    ? DROP_UNDERSCORE_HEADERS
    : undefined
}

/**
 * A CONNECT target is authority-form only (RFC 9112 §3.2.3): `host:port` with a port in
 * 1–65535, a reg-name, IPv4 or bracketed IP literal. `/x`, `http://a/`, `a:99999`, `a` and
 * userinfo are refused here, before any egress decision or upstream connection.
 */
export function admitConnectTarget(
  target: string,
  host: string | undefined,
  settings: TargetSettings,
): string | Rejection {
  if (target.length > settings.maxUriBytes) return REJECT.uriTooLong
  if (host !== undefined && !isValidAuthority(host)) return REJECT.invalidAuthority
  const colon = target.lastIndexOf(':')
  if (colon <= 0 || colon < target.lastIndexOf(']') || colon === target.length - 1) {
    return REJECT.invalidTarget
  }
  if (!isValidAuthority(target) || target.charCodeAt(0) === 0x3a /* : */) {
    return REJECT.invalidTarget
  }
  const port = Number(target.slice(colon + 1))
  return port >= 1 && port <= 65535 ? target : REJECT.invalidTarget
}

/** True for the one expectation we honour (the listener answers it with 100 Continue). */
export function isContinueExpectation(value: string): boolean {
  return trimOws(value).toLowerCase() === '100-continue'
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
