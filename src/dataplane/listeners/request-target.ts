/**
 * The request target and authority checks every HTTP request gets before routing, whatever
 * protocol carried it: the HTTP/1.1 guard and the HTTP/2 adaptation both call
 * `admitRequestTarget`, so a `:path` is held to exactly what a request line is (hardening.md §2.3,
 * §2.4, §3). It also applies the configured path normalization, once: what it returns is the
 * target routing, matching, rate-limit keys and forwarding all read.
 */
import { normalizePath, type PathNormalization, type PathRejection } from '../../lib/index.js'
import type { Rejection } from './rejections.js'
import { REJECT } from './rejections.js'

export interface TargetSettings {
  /** Longest request target accepted (414 above it). */
  readonly maxUriBytes: number
  readonly pathNormalization: PathNormalization
}

/**
 * Checks `target` (a request line's target, or `:path`) and the request's authority (Host, or
 * `:authority`). Returns the target to serve — `target` itself unless normalization rewrote its
 * path — or the rejection.
 */
export function admitRequestTarget(
  method: string,
  target: string,
  authority: string | undefined,
  settings: TargetSettings,
): string | Rejection {
  // Bytes on the wire: the target is ASCII once scanTarget has passed it, but it runs second.
  if (target.length > settings.maxUriBytes) return REJECT.uriTooLong
  if (target.length === 0) return REJECT.invalidTarget
  const bad = scanTarget(target)
  if (bad !== undefined) return bad
  if (authority !== undefined && !isValidAuthority(authority)) return REJECT.invalidAuthority
  if (target.charCodeAt(0) === SLASH) return normalized(target, settings.pathNormalization)
  if (target === '*') return method === 'OPTIONS' ? target : REJECT.invalidTarget
  return admitAbsoluteForm(target, authority, settings.pathNormalization)
}

const SLASH = 0x2f
const HASH = 0x23

// Node's HTTP/1 parser already refuses most of these; nghttp2 lets non-ASCII `:path` bytes
// through, and a fragment would make `/secret#x` miss an exact `/secret` rule.
function scanTarget(target: string): Rejection | undefined {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i)
    if (c === HASH) return REJECT.fragment
    if (c <= 0x20 || c >= 0x7f) return REJECT.invalidTarget
  }
  return undefined
}

function normalized(target: string, mode: PathNormalization): string | Rejection {
  const result = normalizePath(target, mode)
  return typeof result === 'string' ? result : PATH_REJECTIONS[result.reason]
}

const PATH_REJECTIONS: Readonly<Record<PathRejection['reason'], Rejection>> = Object.freeze({
  nul_escape: REJECT.pathNormalizationFailed,
  invalid_character: REJECT.invalidTarget,
  dot_semicolon_segment: REJECT.dotSemicolonSegment,
})

// RFC 9112 §3.2.2: with absolute-form the authority in the target wins over Host. We require the
// two to agree so every later stage can route on Host alone; the path is normalized like any.
function admitAbsoluteForm(
  target: string,
  host: string | undefined,
  mode: PathNormalization,
): string | Rejection {
  const sep = target.indexOf('://')
  if (sep < 0) return REJECT.invalidTarget
  const scheme = target.slice(0, sep).toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') return REJECT.invalidTarget
  const start = sep + 3
  let end = start
  while (end < target.length) {
    const c = target.charCodeAt(end)
    if (c === SLASH || c === 0x3f /* ? */) break
    end++
  }
  const authority = target.slice(start, end)
  if (authority.length === 0 || !isValidAuthority(authority)) return REJECT.invalidTarget
  if (host !== undefined) {
    const defaultPort = scheme === 'https' ? ':443' : ':80'
    if (
      withoutPort(authority.toLowerCase(), defaultPort) !==
      withoutPort(trimOws(host).toLowerCase(), defaultPort)
    ) {
      return REJECT.hostMismatch
    }
  }
  if (end === target.length) return target
  const rest = target.slice(end)
  const path = normalized(rest.charCodeAt(0) === SLASH ? rest : `/${rest}`, mode)
  if (typeof path !== 'string') return path
  return path === rest ? target : target.slice(0, end) + path
}

function withoutPort(authority: string, defaultPort: string): string {
  return authority.endsWith(defaultPort) ? authority.slice(0, -defaultPort.length) : authority
}

/**
 * RFC 3986 §3.2.2–3.2.3 `host [":" port]`, no userinfo (RFC 9110 §7.2): a reg-name or IPv4 of
 * unreserved, sub-delims and `%` escapes, or a bracketed IP literal. `a b`, `a/b`, `a@b` and
 * non-ASCII would otherwise be routed on one reading and forwarded for an upstream to read
 * another way. Empty is allowed (HTTP/1.1 permits an empty Host; routing then finds nothing).
 */
export function isValidAuthority(value: string): boolean {
  const authority = trimOws(value)
  let i = 0
  const n = authority.length
  if (n > 0 && authority.charCodeAt(0) === 0x5b /* [ */) {
    i = 1
    while (i < n && IP_LITERAL[authority.charCodeAt(i)] === 1) i++
    if (i === 1 || i >= n || authority.charCodeAt(i) !== 0x5d /* ] */) return false
    i++
  } else {
    while (i < n && REG_NAME[authority.charCodeAt(i)] === 1) i++
  }
  if (i === n) return true
  if (authority.charCodeAt(i) !== 0x3a /* : */) return false
  const digits = n - i - 1
  if (digits > 5) return false
  for (let j = i + 1; j < n; j++) {
    const c = authority.charCodeAt(j)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

const REG_NAME = new Uint8Array(256)
const IP_LITERAL = new Uint8Array(256)
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%") {
  REG_NAME[ch.charCodeAt(0)] = 1
}
for (const ch of '0123456789abcdefABCDEF:.%vV-_~') IP_LITERAL[ch.charCodeAt(0)] = 1

// OWS is SP / HTAB only (RFC 9110 §5.6.3); String.prototype.trim also strips other whitespace.
export function trimOws(s: string): string {
  let start = 0
  let end = s.length
  while (start < end && isOws(s.charCodeAt(start))) start++
  while (end > start && isOws(s.charCodeAt(end - 1))) end--
  return start === 0 && end === s.length ? s : s.slice(start, end)
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09
}
