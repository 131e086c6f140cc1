// readProxyHeader on real loopback sockets: the address the header carries is what the socket
// reports afterwards (through net.Socket's own getters, which this Node must still read from
// `_peername`), the bytes after the header stay unread for the next reader, and a connection
// that closes first is refused.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type Server, type Socket } from 'node:net'
import * as oracle from 'proxy-protocol-js'
import { proxyPolicyFor, readProxyHeader, type ProxyRefusal } from './proxy-header-reader.js'

interface Outcome {
  readonly socket?: Socket
  readonly rest?: string
  readonly refused?: ProxyRefusal
}

/** A server that reads one connection's PROXY header and reports what followed. */
/** A v2 PROXY header over IPv4, built by the reference implementation. */
function v2Header(source: string, sourcePort: number, destinationPort: number): Buffer {
  const address = new oracle.IPv4ProxyAddress(
    oracle.IPv4Address.createFrom(source.split('.').map(Number)),
    sourcePort,
    oracle.IPv4Address.createFrom([127, 0, 0, 1]),
    destinationPort,
  )
  const header = new oracle.V2ProxyProtocol(
    oracle.Command.PROXY,
    oracle.TransportProtocol.STREAM,
    address,
  )
  return Buffer.from(header.build())
}

async function acceptOne(
  send: (port: number, client: Socket) => void,
  readLater = false,
): Promise<Outcome> {
  const policy = proxyPolicyFor({ trustedCidrs: ['127.0.0.0/8'], headerTimeoutMs: 5_000 }, 0)
  assert.ok(policy)
  let server: Server | undefined
  const outcome = await new Promise<Outcome>((resolve) => {
    server = createServer((socket) => {
      socket.on('error', () => {})
      readProxyHeader(
        socket,
        policy,
        (s) => {
          const read = (): void => {
            s.once('data', (d: Buffer) => resolve({ socket: s, rest: d.toString('latin1') }))
          }
          // A reader that attaches later, as after a shared connection lease.
          if (readLater) setImmediate(read)
          else read()
        },
        (refused) => resolve({ refused }),
      )
    })
    server.listen(0, '127.0.0.1', () => {
      const port = (server!.address() as { port: number }).port
      const client = connect({ host: '127.0.0.1', port })
      client.on('error', () => {})
      client.once('connect', () => send(port, client))
    })
  })
  outcome.socket?.destroy()
  await new Promise((r) => server!.close(r))
  return outcome
}

describe('readProxyHeader', () => {
  test('an IPv4 v2 header: the socket reports the client it carries, and the request follows', async () => {
    const out = await acceptOne((port, client) =>
      client.write(
        Buffer.concat([
          v2Header('203.0.113.7', 40123, port),
          Buffer.from('GET / HTTP/1.1\r\n\r\n'),
        ]),
      ),
    )
    assert.equal(out.rest, 'GET / HTTP/1.1\r\n\r\n')
    const socket = out.socket!
    assert.equal(socket.remoteAddress, '203.0.113.7')
    assert.equal(socket.remotePort, 40123)
    assert.equal(socket.remoteFamily, 'IPv4')
    // Through Node's getters, not own properties that would reshape the socket.
    assert.equal(Object.hasOwn(socket, 'remoteAddress'), false)
  })

  test('a v1 TCP6 header, sent in two writes', async () => {
    const out = await acceptOne((_port, client) => {
      client.write('PROXY TCP6 2001:db8::1 ::1 50000 ')
      setImmediate(() => client.write('8080\r\nGET /x HTTP/1.1\r\n\r\n'))
    })
    assert.equal(out.rest, 'GET /x HTTP/1.1\r\n\r\n')
    assert.equal(out.socket!.remoteAddress, '2001:db8::1')
    assert.equal(out.socket!.remotePort, 50000)
    assert.equal(out.socket!.remoteFamily, 'IPv6')
  })

  test('a reader that attaches after the header was read still gets the bytes after it', async () => {
    const out = await acceptOne(
      (port, client) =>
        client.write(
          Buffer.concat([v2Header('198.51.100.2', 1234, port), Buffer.from('GET /later')]),
        ),
      true,
    )
    assert.equal(out.rest, 'GET /later')
    assert.equal(out.socket!.remoteAddress, '198.51.100.2')
  })

  test('a connection closed before its header is complete is refused as closed', async () => {
    const out = await acceptOne((_port, client) => client.end('PROXY TCP4 1.2.3.4'))
    assert.equal(out.refused, 'closed')
  })

  test('bytes that are no PROXY header are refused as malformed', async () => {
    const out = await acceptOne((_port, client) => client.write('GET / HTTP/1.1\r\n\r\n'))
    assert.equal(out.refused, 'malformed')
  })
})
