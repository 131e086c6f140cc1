// The load side of the PROXY protocol bench: a TCP relay in front of the gateway that stands for
// a cloud load balancer. For every connection autocannon opens it opens one to the gateway and,
// with HEADER=v2, writes a PROXY v2 header first (PROXY command, TCP over IPv4, the client's own
// address and port, as a balancer passes them on); with HEADER=none it only relays. Both bench
// targets go through this relay, so the only difference the gateway sees is the header: the
// client is 127.0.0.1 either way (a documentation address would make it an external client on
// one side only, with its own x-envoy-external-address work, which is not the header's cost).
// Env: TARGET_PORT, HEADER (v2 | none). Prints `listening <port>`.
import { connect, createServer, type AddressInfo } from 'node:net'

const targetPort = Number(process.env['TARGET_PORT'])
const header = process.env['HEADER'] ?? 'none'
if (!Number.isInteger(targetPort) || targetPort <= 0) throw new Error('TARGET_PORT is required')
if (header !== 'v2' && header !== 'none') throw new Error('HEADER must be v2 or none')

const SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
])
const DESTINATION = [127, 0, 0, 1]

function ipv4Bytes(address: string | undefined): number[] {
  const parts = (address ?? '')
    .replace(/^::ffff:/, '')
    .split('.')
    .map(Number)
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
    throw new Error(`not an IPv4 client address: ${address}`)
  }
  return parts
}

function v2Header(sourceAddress: string | undefined, sourcePort: number): Buffer {
  const b = Buffer.alloc(16 + 12)
  SIGNATURE.copy(b, 0)
  b[12] = 0x21 // version 2, PROXY
  b[13] = 0x11 // AF_INET, STREAM
  b.writeUInt16BE(12, 14)
  Buffer.from(ipv4Bytes(sourceAddress)).copy(b, 16)
  Buffer.from(DESTINATION).copy(b, 20)
  b.writeUInt16BE(sourcePort, 24)
  b.writeUInt16BE(targetPort, 26)
  return b
}

const server = createServer((client) => {
  const upstream = connect({ host: '127.0.0.1', port: targetPort })
  upstream.setNoDelay(true)
  client.setNoDelay(true)
  if (header === 'v2') upstream.write(v2Header(client.remoteAddress, client.remotePort ?? 0))
  client.pipe(upstream)
  upstream.pipe(client)
  const close = (): void => {
    client.destroy()
    upstream.destroy()
  }
  client.once('error', close).once('close', close)
  upstream.once('error', close).once('close', close)
})
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port} (header: ${header})`)
})
