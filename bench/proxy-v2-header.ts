// A PROXY protocol v2 header as a load balancer writes it: PROXY command, TCP over IPv4, the
// client's address and port, then the address and port it connected to. Both PROXY loads of the
// bench (the relay, and the instruction-count client) send the same bytes.
const SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
])

function ipv4Bytes(address: string | undefined): number[] {
  const parts = (address ?? '')
    .replace(/^::ffff:/, '')
    .split('.')
    .map(Number)
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
    throw new Error(`not an IPv4 address: ${address}`)
  }
  return parts
}

export function v2Header(
  source: { address: string | undefined; port: number },
  destination: { address: string; port: number },
): Buffer {
  const b = Buffer.alloc(16 + 12)
  SIGNATURE.copy(b, 0)
  b[12] = 0x21 // version 2, PROXY
  b[13] = 0x11 // AF_INET, STREAM
  b.writeUInt16BE(12, 14)
  b.set(ipv4Bytes(source.address), 16)
  b.set(ipv4Bytes(destination.address), 20)
  b.writeUInt16BE(source.port, 24)
  b.writeUInt16BE(destination.port, 26)
  return b
}
