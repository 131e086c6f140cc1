import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { connect } from 'node:tls'
import { MAX_HELLO_BYTES, parseClientHello } from './client-hello.js'

/** The first bytes a real Node TLS client sends: its ClientHello record. */
async function captureHello(opts: { servername?: string; alpn?: string[] }): Promise<Buffer> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  try {
    const port = (server.address() as AddressInfo).port
    const got = new Promise<Buffer>((resolve) => {
      server.once('connection', (s) => {
        s.once('data', (d: Buffer) => {
          resolve(d)
          s.destroy()
        })
      })
    })
    const client = connect({
      host: '127.0.0.1',
      port,
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      ...(opts.alpn !== undefined ? { ALPNProtocols: opts.alpn } : {}),
    })
    client.on('error', () => undefined)
    const hello = await got
    client.destroy()
    return hello
  } finally {
    server.close()
  }
}

describe('parseClientHello', () => {
  test('SNI (lower-cased) and the ALPN list of a real ClientHello', async () => {
    const hello = await captureHello({ servername: 'Web.Example.COM', alpn: ['h2', 'http/1.1'] })
    assert.deepEqual(parseClientHello(hello), {
      kind: 'hello',
      hello: { serverName: 'web.example.com', alpn: ['h2', 'http/1.1'] },
    })
  })

  test('no SNI and no ALPN', async () => {
    // Node leaves out server_name when connecting to an IP without servername.
    const hello = await captureHello({})
    assert.deepEqual(parseClientHello(hello), {
      kind: 'hello',
      hello: { serverName: undefined, alpn: [] },
    })
  })

  test('split across TCP segments: incomplete until the whole record is there', async () => {
    const hello = await captureHello({ servername: 'api.example.com', alpn: ['http/1.1'] })
    for (const cut of [1, 4, 5, 6, 43, hello.length - 1]) {
      assert.deepEqual(parseClientHello(hello.subarray(0, cut)), { kind: 'incomplete' }, `${cut}`)
    }
    const result = parseClientHello(Buffer.concat([hello.subarray(0, 7), hello.subarray(7)]))
    assert.equal(result.kind === 'hello' && result.hello.serverName, 'api.example.com')
  })

  test('not TLS: plain HTTP is invalid from the first byte', () => {
    assert.deepEqual(parseClientHello(Buffer.from('G')), { kind: 'invalid', reason: 'not TLS' })
    assert.deepEqual(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')), {
      kind: 'invalid',
      reason: 'not TLS',
    })
    assert.deepEqual(parseClientHello(Buffer.alloc(0)), { kind: 'incomplete' })
  })

  test('oversized: a record longer than a TLS record may be is refused before it arrives', () => {
    const header = Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])
    assert.deepEqual(parseClientHello(header), { kind: 'invalid', reason: 'record too large' })
    assert.equal(MAX_HELLO_BYTES, 16 * 1024 + 5)
  })

  test('a handshake record that is not a ClientHello', () => {
    const serverHello = Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])
    assert.deepEqual(parseClientHello(serverHello), {
      kind: 'invalid',
      reason: 'not a ClientHello',
    })
  })

  test('a hello longer than its record (spanning records) or truncated inside is invalid', async () => {
    const hello = await captureHello({ servername: 'web.example.com' })
    const spans = Buffer.from(hello)
    spans.writeUIntBE(hello.length, 6, 3) // handshake length beyond the record
    assert.equal(parseClientHello(spans).kind, 'invalid')
    const shortRecord = Buffer.from(hello.subarray(0, 60))
    shortRecord.writeUInt16BE(55, 3)
    shortRecord.writeUIntBE(51, 6, 3) // consistent lengths, but cut inside the cipher suites
    assert.equal(parseClientHello(shortRecord).kind, 'invalid')
  })

  test('never throws on arbitrary bytes after a TLS record header', () => {
    // Deterministic pseudo-random bodies, so a failure reproduces.
    let seed = 7
    for (let i = 0; i < 500; i++) {
      const len = 4 + (i % 120)
      const body = Buffer.alloc(len)
      for (let j = 0; j < len; j++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        body[j] = seed & 0xff
      }
      body[0] = 0x01
      const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0, 0]), body])
      record.writeUInt16BE(len, 3)
      const result = parseClientHello(record)
      assert.ok(result.kind === 'hello' || result.kind === 'invalid', result.kind)
    }
  })
})
