/**
 * PROXY protocol v1 (text) and v2 (binary) headers, as HAProxy's proxy-protocol.txt specifies
 * them, parsed from the bytes a connection has sent so far. Hand-written (ecosystem.md §7): the
 * libraries parse only complete buffers, lump TLVs and payload together, or monkeypatch
 * net.Server. This file is pure: the accept path (proxy-header-reader.ts) feeds it bytes.
 *
 * Results: `incomplete` (read more, within the size bound), `invalid` (close the connection),
 * or `header` with its length, so the bytes after it go on to HTTP, TLS or the TCP upstream.
 */
import { parseIp } from '../../lib/index.js'

/** v1: "PROXY " ... CRLF, at most 107 bytes (the spec's worst case, CRLF included). */
export const V1_MAX_BYTES = 107
/** v2: 16 fixed bytes, then addresses and TLVs; bounded far below the 64 KiB the length allows. */
export const V2_MAX_BYTES = 4096

const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
])
const V2_FIXED = 16

/** TLV types of the spec that are decoded; every TLV is also kept raw. */
export const PP2_TYPE_ALPN = 0x01
export const PP2_TYPE_AUTHORITY = 0x02
export const PP2_TYPE_UNIQUE_ID = 0x05
export const PP2_TYPE_SSL = 0x20
export const PP2_TYPE_AWS = 0xea

export interface ProxyAddress {
  readonly address: string
  readonly port: number
  readonly family: 'IPv4' | 'IPv6'
}

export interface ProxyTlv {
  readonly type: number
  readonly value: Buffer
}

export interface ProxyHeader {
  readonly version: 1 | 2
  /**
   * false: a LOCAL command (v2) or UNKNOWN protocol (v1), e.g. the balancer's own health check;
   * the connection's own addresses stand.
   */
  readonly proxied: boolean
  readonly source?: ProxyAddress
  readonly destination?: ProxyAddress
  readonly tlvs: readonly ProxyTlv[]
}

export type ProxyParse =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'header'; readonly header: ProxyHeader; readonly length: number }

const INCOMPLETE: ProxyParse = Object.freeze({ kind: 'incomplete' })

function invalid(reason: string): ProxyParse {
  return { kind: 'invalid', reason }
}

/** Parses the header at the start of `buf` (the connection's first bytes). */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return INCOMPLETE
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf)
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf)
  return invalid('no PROXY protocol header')
}

/** True while `buf` may still become the prefix or signature it started as. */
function prefixMatches(buf: Buffer, expected: Buffer): boolean {
  const n = Math.min(buf.length, expected.length)
  for (let i = 0; i < n; i++) if (buf[i] !== expected[i]) return false
  return true
}

function parseV1(buf: Buffer): ProxyParse {
  if (!prefixMatches(buf, V1_PREFIX)) return invalid('no PROXY protocol header')
  const limit = Math.min(buf.length, V1_MAX_BYTES)
  let lf = -1
  for (let i = V1_PREFIX.length; i < limit; i++) {
    if (buf[i] === 0x0a) {
      lf = i
      break
    }
  }
  if (lf < 0) {
    return buf.length >= V1_MAX_BYTES ? invalid('v1 header longer than 107 bytes') : INCOMPLETE
  }
  if (buf[lf - 1] !== 0x0d) return invalid('v1 header not ended by CRLF')
  const line = buf.toString('latin1', V1_PREFIX.length, lf - 1)
  const parts = line.split(' ')
  const protocol = parts[0]
  if (protocol === 'UNKNOWN') {
    // The sender could not tell the addresses; anything may follow up to CRLF (spec §2.1).
    return { kind: 'header', header: { version: 1, proxied: false, tlvs: [] }, length: lf + 1 }
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid('v1 protocol not TCP4/TCP6')
  if (parts.length !== 5) return invalid('v1 header does not have 5 fields')
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6'
  const src = v1Address(parts[1]!, parts[3]!, family)
  const dst = v1Address(parts[2]!, parts[4]!, family)
  if (src === undefined || dst === undefined) return invalid('v1 address or port malformed')
  return {
    kind: 'header',
    header: { version: 1, proxied: true, source: src, destination: dst, tlvs: [] },
    length: lf + 1,
  }
}

const V1_PORT = /^(0|[1-9][0-9]{0,4})$/
const V1_IPV4 =
  /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/

function v1Address(ip: string, port: string, family: 'IPv4' | 'IPv6'): ProxyAddress | undefined {
  if (!V1_PORT.test(port)) return undefined
  const p = Number(port)
  if (p > 65535) return undefined
  if (family === 'IPv4') return V1_IPV4.test(ip) ? { address: ip, port: p, family } : undefined
  if (ip.length > 45 || !ip.includes(':')) return undefined
  const parsed = parseIp(ip)
  if (parsed === undefined) return undefined
  // IPv4-mapped: written the way Node reports such a peer.
  const address =
    parsed.family === 4 ? `::ffff:${parsed.bytes.join('.')}` : formatIpv6(parsed.bytes)
  return { address, port: p, family }
}

function parseV2(buf: Buffer): ProxyParse {
  if (!prefixMatches(buf, V2_SIGNATURE)) return invalid('no PROXY protocol header')
  if (buf.length < V2_FIXED) return INCOMPLETE
  const verCmd = buf[12]!
  if (verCmd >> 4 !== 2) return invalid('v2 version is not 2')
  const command = verCmd & 0x0f
  if (command > 1) return invalid('v2 command is neither LOCAL nor PROXY')
  const famProto = buf[13]!
  const length = V2_FIXED + buf.readUInt16BE(14)
  if (length > V2_MAX_BYTES) return invalid(`v2 header longer than ${V2_MAX_BYTES} bytes`)
  if (buf.length < length) return INCOMPLETE
  const family = famProto >> 4
  const transport = famProto & 0x0f
  if (family > 3 || transport > 2) return invalid('v2 address family or transport unknown')
  // This listener carries streams: a datagram header does not describe this connection.
  if (transport === 2) return invalid('v2 header for a datagram transport')
  const addrLen = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0
  if (length - V2_FIXED < addrLen) return invalid('v2 header shorter than its addresses')
  const tlvs = parseTlvs(buf, V2_FIXED + addrLen, length)
  if (tlvs === undefined) return invalid('v2 TLVs do not fill the header exactly')
  // LOCAL (health checks of the balancer itself), UNSPEC and AF_UNIX: keep the socket's addresses.
  if (command === 0 || transport === 0 || (family !== 1 && family !== 2)) {
    return { kind: 'header', header: { version: 2, proxied: false, tlvs }, length }
  }
  const at = V2_FIXED
  let source: ProxyAddress
  let destination: ProxyAddress
  if (family === 1) {
    source = { address: ipv4Text(buf, at), port: buf.readUInt16BE(at + 8), family: 'IPv4' }
    destination = {
      address: ipv4Text(buf, at + 4),
      port: buf.readUInt16BE(at + 10),
      family: 'IPv4',
    }
  } else {
    source = {
      address: formatIpv6(buf.subarray(at, at + 16)),
      port: buf.readUInt16BE(at + 32),
      family: 'IPv6',
    }
    destination = {
      address: formatIpv6(buf.subarray(at + 16, at + 32)),
      port: buf.readUInt16BE(at + 34),
      family: 'IPv6',
    }
  }
  return {
    kind: 'header',
    header: { version: 2, proxied: true, source, destination, tlvs },
    length,
  }
}

function parseTlvs(buf: Buffer, start: number, end: number): ProxyTlv[] | undefined {
  const out: ProxyTlv[] = []
  let at = start
  while (at < end) {
    if (end - at < 3) return undefined
    const type = buf[at]!
    const len = buf.readUInt16BE(at + 1)
    if (at + 3 + len > end) return undefined
    // A copy: the header's buffer is the connection's first chunk, which also holds its payload.
    out.push({ type, value: Buffer.from(buf.subarray(at + 3, at + 3 + len)) })
    at += 3 + len
  }
  return out
}

function ipv4Text(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`
}

/** RFC 5952 text (lower case, longest zero run as `::`), as Node reports socket addresses. */
function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!)
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  const head = hex.slice(0, bestStart).join(':')
  const tail = hex.slice(bestStart + bestLen).join(':')
  return `${head}::${tail}`
}
