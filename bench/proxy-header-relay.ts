// The load side of the PROXY protocol bench: a TCP relay in front of the gateway that stands for
// a cloud load balancer. For every connection autocannon opens it opens one to the gateway and,
// with HEADER=v2, writes a PROXY v2 header first (PROXY command, TCP over IPv4, the client's own
// address and port, as a balancer passes them on); with HEADER=none it only relays. Both bench
// targets go through this relay, so the only difference the gateway sees is the header: the
// client is 127.0.0.1 either way (a documentation address would make it an external client on
// one side only, with its own x-envoy-external-address work, which is not the header's cost).
// Env: TARGET_PORT, HEADER (v2 | none). Prints `listening <port>`.
import { connect, createServer, type AddressInfo } from 'node:net'
import { v2Header } from './proxy-v2-header.js'

const targetPort = Number(process.env['TARGET_PORT'])
const header = process.env['HEADER'] ?? 'none'
if (!Number.isInteger(targetPort) || targetPort <= 0) throw new Error('TARGET_PORT is required')
if (header !== 'v2' && header !== 'none') throw new Error('HEADER must be v2 or none')

const server = createServer((client) => {
  const upstream = connect({ host: '127.0.0.1', port: targetPort })
  upstream.setNoDelay(true)
  client.setNoDelay(true)
  if (header === 'v2')
    upstream.write(
      v2Header(
        { address: client.remoteAddress, port: client.remotePort ?? 0 },
        { address: '127.0.0.1', port: targetPort },
      ),
    )
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
