// Downstream hardening at the listener, over real sockets (hardening.md §1.5, §2.3, §5).
import assert from 'node:assert/strict'
import { STATUS_CODES } from 'node:http'
import type { TestContext } from 'node:test'
import { describe, test } from 'node:test'
import type { SnapshotOptions, TestManager } from '../../../test/support/listener-kit.js'
import {
  exchange,
  fakePrepared,
  freePorts,
  openRaw,
  startTestManager,
} from '../../../test/support/listener-kit.js'

async function serving(
  t: TestContext,
  opts: Partial<SnapshotOptions> = {},
): Promise<TestManager & { port: number }> {
  const [port] = await freePorts(1)
  const m = startTestManager(t)
  await m.load(fakePrepared({ label: 'A', ports: [port!], ...opts }))
  return { ...m, port: port! }
}

const GET = (extra = '', target = '/') =>
  `GET ${target} HTTP/1.1\r\nHost: example.com\r\n${extra}\r\n`

/**
 * The request is answered locally with `status`, `Connection: close`, the connection is closed,
 * the handler never ran, and exactly one DPE record names the reason.
 */
async function assertRejected(
  t: TestContext,
  m: TestManager & { port: number },
  data: string | Buffer,
  status: number,
  details?: string,
): Promise<void> {
  const { response, client } = await exchange(t, m.port, data)
  assert.equal(response.statusLine, `HTTP/1.1 ${status} ${STATUS_CODES[status]}`)
  assert.equal(response.headers['connection'], 'close')
  assert.equal(await client.waitClosed(), true, 'server closes the connection')
  assert.equal(m.handled.length, 0, 'handler never called')
  assert.equal(m.records.length, 1)
  const record = m.records[0]!
  assert.equal(record.status, status)
  assert.equal(record.responseFlags, 'DPE')
  assert.equal(record.listener, `127.0.0.1:${m.port}`)
  if (details !== undefined) assert.equal(record.responseCodeDetails, details)
}

function headerLines(count: number): string {
  let lines = ''
  for (let i = 0; i < count; i++) lines += `X-H${i}: v\r\n`
  return lines
}

describe('http listener: accepted requests', () => {
  test('a plain request reaches the handler with the listener context', async (t) => {
    const m = await serving(t)
    const { response } = await exchange(t, m.port, GET())
    assert.equal(response.status, 200)
    assert.equal(response.body, `A 127.0.0.1:${m.port}`)
    assert.equal(m.handled.length, 1)
    assert.equal(m.records.length, 0)
  })

  test('100 header fields are accepted (the limit is inclusive)', async (t) => {
    const m = await serving(t)
    // Host + 99 = 100 fields.
    const { response } = await exchange(t, m.port, GET(headerLines(99)))
    assert.equal(response.status, 200)
  })

  test('Transfer-Encoding chunked is accepted in any letter case', async (t) => {
    const m = await serving(t)
    for (const value of ['chunked', 'Chunked', ' CHUNKED ']) {
      const { response } = await exchange(
        t,
        m.port,
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:${value}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      )
      assert.equal(response.status, 200, value)
    }
    assert.equal(m.handled.length, 3)
  })

  test('absolute-form whose authority equals Host is accepted', async (t) => {
    const m = await serving(t)
    const { response } = await exchange(
      t,
      m.port,
      'GET http://Example.com:80/x HTTP/1.1\r\nHost: example.com\r\n\r\n',
    )
    assert.equal(response.status, 200)
  })

  test('Expect: 100-continue gets 100 Continue, then the handler answers', async (t) => {
    const m = await serving(t)
    const client = await openRaw(m.port)
    t.after(() => client.socket.destroy())
    client.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n')
    assert.equal((await client.nextResponse()).statusLine, 'HTTP/1.1 100 Continue')
    client.write('abc')
    assert.equal((await client.nextResponse()).status, 200)
  })

  test('underscore headers are dropped under DROP and kept under ALLOW', async (t) => {
    const drop = await serving(t, { limits: { headersWithUnderscores: 'DROP' } })
    const { response } = await exchange(t, drop.port, GET('X_Foo: 1\r\nX-Bar: 2\r\n'))
    assert.equal(response.status, 200)
    const seen = drop.handled[0]!
    assert.equal(seen.headers['x_foo'], undefined)
    assert.equal(seen.headers['x-bar'], '2')
    assert.deepEqual(seen.rawHeaders, ['Host', 'example.com', 'X-Bar', '2'])

    const allow = await serving(t, { limits: { headersWithUnderscores: 'ALLOW' } })
    assert.equal((await exchange(t, allow.port, GET('X_Foo: 1\r\n'))).response.status, 200)
    assert.equal(allow.handled[0]!.headers['x_foo'], '1')
  })

  test('the configured server header is on local replies', async (t) => {
    const m = await serving(t, { serverHeader: 'istio-envoy' })
    const { response } = await exchange(t, m.port, GET('', '/a#b'))
    assert.equal(response.headers['server'], 'istio-envoy')
  })
})

describe('http listener: requests refused before routing', () => {
  test('101 header fields → 431', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, GET(headerLines(100)), 431, 'http1.too_many_headers')
  })

  test('1500 header fields → 431 (Node would silently drop the excess)', async (t) => {
    const m = await serving(t, { limits: { maxHeaderBytes: 64 * 1024 } })
    await assertRejected(t, m, GET(headerLines(1500)), 431, 'http1.too_many_headers')
  })

  test('17 KiB of headers → 431', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      GET(`X-Big: ${'a'.repeat(17 * 1024)}\r\n`),
      431,
      'http1.headers_too_large',
    )
  })

  test('Transfer-Encoding: gzip, chunked → 501', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      501,
      'http1.unsupported_transfer_encoding',
    )
  })

  test('Transfer-Encoding on two lines → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    )
  })

  test('Content-Length with Transfer-Encoding → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    )
  })

  test('duplicate Host → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, GET('Host: evil.com\r\n'), 400, 'http1.multiple_host_headers')
  })

  test('HTTP/1.1 without Host → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, 'GET / HTTP/1.1\r\n\r\n', 400, 'http.missing_host_header')
  })

  test('header name with underscore → 400 under REJECT', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, GET('X_Foo: 1\r\n'), 400, 'http.unexpected_underscore')
  })

  test('fragment in the target → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, GET('', '/a#b'), 400, 'http.fragment_in_url_path')
  })

  test('non-ASCII byte in the target → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, Buffer.from(GET('', '/\xe9'), 'latin1'), 400)
  })

  test('HTTP/2.0 in an HTTP/1 request line → 505', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      'GET / HTTP/2.0\r\nHost: a\r\n\r\n',
      505,
      'http1.unsupported_http_version',
    )
  })

  test('Upgrade: h2c → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      GET(
        'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n',
      ),
      400,
      'http1.h2c_upgrade_not_allowed',
    )
  })

  test('absolute-form whose authority differs from Host → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      'GET http://internal.example/x HTTP/1.1\r\nHost: example.com\r\n\r\n',
      400,
      'http1.absolute_url_host_mismatch',
    )
  })

  test('asterisk-form outside OPTIONS → 400', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, GET('', '*'), 400, 'http1.invalid_url')
  })

  test('Expect other than 100-continue → 417', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, GET('Expect: foo\r\n'), 417, 'http1.unsupported_expect')
  })

  test('CONNECT on an ingress listener → 405', async (t) => {
    const m = await serving(t)
    await assertRejected(
      t,
      m,
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
      405,
      'http1.connect_not_allowed',
    )
    assert.equal(m.records[0]!.method, 'CONNECT')
  })

  test('malformed syntax (space before colon) → 400 from the parser', async (t) => {
    const m = await serving(t)
    await assertRejected(t, m, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello', 400)
    assert.match(m.records[0]!.responseCodeDetails, /^http1\.codec_error\{HPE_/)
  })

  test('a request pipelined behind a refused one never reaches the handler', async (t) => {
    const m = await serving(t)
    const { response, client } = await exchange(
      t,
      m.port,
      GET('', '/a#b') + GET('', '/second') + GET('', '/third'),
    )
    assert.equal(response.status, 400)
    assert.equal(await client.waitClosed(), true)
    assert.equal(client.pending, '', 'nothing after the refusal')
    assert.equal(m.handled.length, 0)
    assert.equal(m.records.length, 1)
  })

  test('a refusal after a served keep-alive request still closes the connection', async (t) => {
    const m = await serving(t)
    const client = await openRaw(m.port)
    t.after(() => client.socket.destroy())
    client.write(GET())
    assert.equal((await client.nextResponse()).status, 200)
    client.write(GET('X_Foo: 1\r\n'))
    const refused = await client.nextResponse()
    assert.equal(refused.status, 400)
    assert.equal(refused.headers['connection'], 'close')
    assert.equal(await client.waitClosed(), true)
    assert.equal(m.handled.length, 1)
  })
})

describe('http listener: slow clients', () => {
  test('a client that connects and sends nothing gets 408 and a close', async (t) => {
    const m = await serving(t, { limits: { headersTimeoutMs: 500 } })
    const client = await openRaw(m.port)
    t.after(() => client.socket.destroy())
    // Deadline 500 ms, checked every second: bounded well inside the wait below.
    const response = await client.nextResponse(4000)
    assert.equal(response.statusLine, 'HTTP/1.1 408 Request Timeout')
    assert.equal(response.headers['connection'], 'close')
    assert.equal(await client.waitClosed(), true)
    assert.equal(m.handled.length, 0)
    // No request was started, so there is nothing to log.
    assert.equal(m.records.length, 0)
  })

  test('a client that stops halfway through the headers gets 408 and a DPE record', async (t) => {
    const m = await serving(t, { limits: { headersTimeoutMs: 500 } })
    const client = await openRaw(m.port)
    t.after(() => client.socket.destroy())
    client.write('GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ')
    const response = await client.nextResponse(4000)
    assert.equal(response.status, 408)
    assert.equal(await client.waitClosed(), true)
    assert.equal(m.handled.length, 0)
    assert.equal(m.records.length, 1)
    assert.equal(m.records[0]!.responseCodeDetails, 'request_header_timeout')
    assert.equal(m.records[0]!.responseFlags, 'DPE')
  })
})
