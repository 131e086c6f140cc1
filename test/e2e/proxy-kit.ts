// Clients that speak PROXY protocol to the gateway as a load balancer does: a header built here
// (v1 text or v2 binary with TLVs), then plain HTTP or a TLS handshake on the same connection.
import { connect as connectTcp, type Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'

export interface ProxyAddresses {
  source: string
  sourcePort: number
  destination: string
  destinationPort: number
}

export function v1Header(a: ProxyAddresses): Buffer {
  const family = a.source.includes(':') ? 'TCP6' : 'TCP4'
  return Buffer.from(
    `PROXY ${family} ${a.source} ${a.destination} ${a.sourcePort} ${a.destinationPort}\r\n`,
    'latin1',
  )
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

export interface Tlv {
  type: number
  value: Buffer
}

function ipBytes(ip: string): Buffer {
  if (!ip.includes(':')) return Buffer.from(ip.split('.').map(Number))
  const [head = '', tail = ''] = ip.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const groups = ip.includes('::')
    ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
    : h
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

/** A v2 PROXY (or LOCAL) header over TCP with the given TLVs. */
export function v2Header(
  a: ProxyAddresses,
  tlvs: Tlv[] = [],
  command: 'PROXY' | 'LOCAL' = 'PROXY',
): Buffer {
  const v6 = a.source.includes(':')
  const ports = Buffer.alloc(4)
  ports.writeUInt16BE(a.sourcePort, 0)
  ports.writeUInt16BE(a.destinationPort, 2)
  const addresses = Buffer.concat([ipBytes(a.source), ipBytes(a.destination), ports])
  const tlvBytes = Buffer.concat(
    tlvs.map((t) => {
      const head = Buffer.alloc(3)
      head[0] = t.type
      head.writeUInt16BE(t.value.length, 1)
      return Buffer.concat([head, t.value])
    }),
  )
  const fixed = Buffer.alloc(4)
  fixed[0] = command === 'PROXY' ? 0x21 : 0x20
  fixed[1] = v6 ? 0x21 : 0x11
  fixed.writeUInt16BE(addresses.length + tlvBytes.length, 2)
  return Buffer.concat([V2_SIGNATURE, fixed, addresses, tlvBytes])
}

export interface Exchange {
  /** Everything the gateway sent before the connection closed. */
  data: string
  /** HTTP status of the first response, if any came. */
  status: number | undefined
}

export interface ExchangeOptions {
  port: number
  /** The client's own address (a second loopback address plays an untrusted source). */
  localAddress?: string
  /** Bytes sent first (a PROXY header, or anything). */
  prefix?: Buffer
  /** Sent after the prefix on the raw connection, or over TLS when `tls` is given. */
  request?: string
  tls?: { servername: string; ca: string }
  /** The gateway must have closed by then (bounded wait; no fixed sleep). */
  deadlineMs?: number
}

/** One connection: prefix, then the request (plain or over TLS); resolves when it closes. */
export function exchange(opts: ExchangeOptions): Promise<Exchange> {
  return new Promise((resolve) => {
    const raw = connectTcp({
      host: '127.0.0.1',
      port: opts.port,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    })
    let data = ''
    let settled = false
    const finish = (): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      raw.destroy()
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
      resolve({ data, status: m ? Number(m[1]) : undefined })
    }
    const timer = setTimeout(finish, opts.deadlineMs ?? 20_000)
    const collect = (s: Socket): void => {
      s.setEncoding('latin1')
      s.on('data', (d: string) => (data += d))
      s.on('error', finish)
      s.on('close', finish)
    }
    raw.on('error', finish)
    raw.once('connect', () => {
      if (opts.prefix !== undefined) raw.write(opts.prefix)
      if (opts.tls === undefined) {
        collect(raw)
        if (opts.request !== undefined) raw.write(opts.request)
        return
      }
      const secure = connectTls({
        socket: raw,
        servername: opts.tls.servername,
        ca: opts.tls.ca,
        ALPNProtocols: ['http/1.1'],
      })
      collect(secure)
      secure.once('secureConnect', () => {
        if (opts.request !== undefined) secure.write(opts.request)
      })
    })
  })
}

export function get(path: string, host = 'app.example.com'): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`
}
