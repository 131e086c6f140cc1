import assert from 'node:assert/strict'
import { connect, createServer, type Http2ServerRequest } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { formatAddress, protocolName } from './address.js'
import { Flag } from './flags.js'
import { buildLocalRecord, describeMessage } from './local-record.js'

test('a refused HTTP/2 request is recorded as HTTP/2, as Envoy prints it, with a request id', async (t) => {
  const seen: Http2ServerRequest[] = []
  const server = createServer((req, res) => {
    seen.push(req)
    res.writeHead(400).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  await new Promise<void>((resolve, reject) => {
    const stream = client.request({ ':path': '/p' })
    stream.on('response', () => stream.resume())
    stream.on('end', () => resolve())
    stream.on('error', reject)
    stream.end()
  })
  client.close()
  const req = seen[0]!
  const record = buildLocalRecord({
    request: describeMessage(req as never),
    startTime: Date.now(),
    listener: '127.0.0.1:80',
    scheme: 'http',
    addresses: { remote: formatAddress('::1', 5), local: formatAddress('::ffff:10.0.0.1', 80) },
    status: 400,
    flags: Flag.DPE | Flag.EG,
    details: 'http.invalid_authority',
  })
  assert.equal(record.protocol, 'HTTP/2')
  assert.equal(record.path, '/p')
  assert.match(record.requestId, /^[0-9a-f-]{36}$/)
  assert.equal(record.responseFlags, 'DPE,EG')
  assert.equal(record.downstreamRemoteAddress, '[::1]:5')
  assert.equal(record.downstreamLocalAddress, '10.0.0.1:80')
})

test('protocol names are Envoy’s', () => {
  assert.deepEqual(['1.0', '1.1', '2.0'].map(protocolName), ['HTTP/1.0', 'HTTP/1.1', 'HTTP/2'])
})
