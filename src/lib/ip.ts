/**
 * IP literals and CIDR ranges, parsed without the network stack (compile/ and match/ may not
 * import node:net). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are treated as the IPv4
 * address they carry, so a range check cannot be dodged by writing an address the other way.
 */

export interface ParsedIp {
  readonly family: 4 | 6
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array
}

function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^[0-9]{1,3}$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out[i] = n
  }
  return out
}

function parseIpv6(s: string): Uint8Array | undefined {
  if (s.includes('%')) return undefined
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const groups = (part: string): number[] | undefined => {
    if (part === '') return []
    const out: number[] = []
    const items = part.split(':')
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseIpv4(it)
        if (v4 === undefined) return undefined
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(it)) out.push(parseInt(it, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail]
  const out = new Uint8Array(16)
  all.forEach((g, i) => {
    out[i * 2] = g >> 8
    out[i * 2 + 1] = g & 0xff
  })
  return out
}

/** Parses an IP literal (brackets allowed around IPv6); undefined when `s` is not one. */
export function parseIp(s: string): ParsedIp | undefined {
  const text = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s
  if (text.includes(':')) {
    const bytes = parseIpv6(text)
    if (bytes === undefined) return undefined
    const mapped = bytes.subarray(0, 12).every((b, i) => (i < 10 ? b === 0 : b === 0xff))
    if (mapped) return { family: 4, bytes: bytes.slice(12) }
    return { family: 6, bytes }
  }
  const v4 = parseIpv4(text)
  return v4 === undefined ? undefined : { family: 4, bytes: v4 }
}

export function isIpLiteral(s: string): boolean {
  return parseIp(s) !== undefined
}

/** Whether `ip` lies in `range` (a CIDR, or a single address meaning /32 or /128). */
export function cidrContains(range: string, ip: ParsedIp): boolean {
  const slash = range.indexOf('/')
  const base = parseIp(slash < 0 ? range : range.slice(0, slash))
  if (base === undefined || base.family !== ip.family) return false
  const max = base.bytes.length * 8
  const bits = slash < 0 ? max : Number(range.slice(slash + 1))
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return false
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3
    const mask = 0x80 >> (i & 7)
    if ((base.bytes[byte]! & mask) !== (ip.bytes[byte]! & mask)) return false
  }
  return true
}

/**
 * Ranges an egress proxy must not be talked into reaching by name or literal: this host,
 * private networks, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT,
 * unique-local and unspecified addresses.
 */
const NON_PUBLIC = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
]

export function isNonPublicAddress(ip: ParsedIp): boolean {
  return NON_PUBLIC.some((r) => cidrContains(r, ip))
}
