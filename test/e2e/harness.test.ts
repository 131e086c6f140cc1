// Tests for the e2e harness itself. None of them needs the gateway: they check the upstreams,
// the clients and the process handling that every gateway test builds on.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import {
  REPO_ROOT,
  curl,
  freePort,
  freePorts,
  gatewayConfigDoc,
  hasCurl,
  joinDocs,
  proxyRouteDocs,
  rawRequest,
  readinessPortOf,
  request,
  startGateway,
  startRawUpstream,
  startUpstream,
  statusCodes,
} from './harness/index.js'
import type { RecordedRequest } from './harness/index.js'

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

describe('ports', () => {
  test('freePort returns a port that can be bound', async () => {
    const port = await freePort()
    assert.ok(port > 0 && port < 65536)
    assert.equal(await canBind(port), true)
  })

  test('freePorts returns distinct bindable ports', async () => {
    const ports = await freePorts(5)
    assert.equal(ports.length, 5)
    assert.equal(new Set(ports).size, 5)
    for (const port of ports) assert.equal(await canBind(port), true)
  })
})

describe('upstream', () => {
  test('echoes method, path, query, headers and body, and records the request', async (t) => {
    const up = await startUpstream({ name: 'alpha' })
    t.after(() => up.close())
    const res = await request(`${up.url}/some/path?a=1&a=2&b=x`, {
      method: 'POST',
      headers: { 'X-Custom': 'yes', 'content-type': 'text/plain' },
      body: 'hello body',
    })
    assert.equal(res.status, 200)
    assert.equal(res.headers['x-upstream-name'], 'alpha')
    const echo = res.json<RecordedRequest>()
    assert.equal(echo.name, 'alpha')
    assert.equal(echo.method, 'POST')
    assert.equal(echo.url, '/some/path?a=1&a=2&b=x')
    assert.equal(echo.path, '/some/path')
    assert.deepEqual(echo.query, { a: ['1', '2'], b: 'x' })
    assert.equal(echo.headers['x-custom'], 'yes')
    assert.ok(echo.rawHeaders.includes('X-Custom'))
    assert.equal(echo.body, 'hello body')
    assert.equal(echo.bodyLength, 10)
    assert.equal(echo.httpVersion, '1.1')
    assert.ok(echo.remotePort > 0)

    assert.equal(up.requests.length, 1)
    assert.equal(up.requests[0]?.body, 'hello body')
    assert.equal(up.connections, 1)
    up.reset()
    assert.equal(up.requests.length, 0)
    assert.equal(up.connections, 0)
  })

  test('a request without a body has no body field', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const echo = (await request(`${up.url}/`)).json<RecordedRequest>()
    assert.equal(echo.body, undefined)
    assert.equal(echo.bodyLength, 0)
  })

  test('/status/<code> answers that code', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    assert.equal((await request(`${up.url}/status/418`)).status, 418)
    assert.equal((await request(`${up.url}/status/503`)).status, 503)
    const noContent = await request(`${up.url}/status/204`)
    assert.equal(noContent.status, 204)
    assert.equal(noContent.text, '')
    assert.equal((await request(`${up.url}/status/099`)).status, 400)
  })

  test('/delay/<s> waits before answering', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const started = performance.now()
    const res = await request(`${up.url}/delay/0.2`)
    assert.equal(res.status, 200)
    assert.ok(performance.now() - started >= 190, 'answered before the delay elapsed')
    assert.equal(res.json<RecordedRequest>().path, '/delay/0.2')
  })

  test('close() ends requests still waiting in /delay', async () => {
    const up = await startUpstream()
    // Settle into a value at once: the rejection arrives while the test is still in close().
    const outcome = request(`${up.url}/delay/30`).then(
      () => 'answered',
      (err: unknown) => err,
    )
    // The request is recorded when it is received, before the delay.
    for (let i = 0; i < 100 && up.requests.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10))
    assert.equal(up.requests.length, 1)
    await up.close()
    assert.ok((await outcome) instanceof Error, 'the pending request was not cut off')
    assert.equal(up.openConnections, 0)
  })

  test('/headers, /bytes/<n> and /stream/<n>', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const headers = (await request(`${up.url}/headers`, { headers: { 'x-a': 'b' } })).json<{
      headers: Record<string, string>
    }>()
    assert.equal(headers.headers['x-a'], 'b')

    const bytes = await request(`${up.url}/bytes/1000`)
    assert.equal(bytes.headers['content-length'], '1000')
    assert.equal(bytes.bytes.length, 1000)
    assert.ok(bytes.bytes.every((b, i) => b === i % 256))

    const stream = await request(`${up.url}/stream/5`)
    assert.equal(stream.headers['transfer-encoding'], 'chunked')
    const lines = stream.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number })
    assert.deepEqual(
      lines.map((l) => l.id),
      [0, 1, 2, 3, 4],
    )
  })

  test('refuses to bind a non-loopback address', async () => {
    await assert.rejects(startUpstream({ host: '0.0.0.0' }), /not a loopback/)
  })
})

describe('rawRequest', () => {
  test('collects pipelined keep-alive responses until the connection goes idle', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const req = `GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n`
    const res = await rawRequest(up.port, req, { idleMs: 200, timeoutMs: 3000 })
    assert.deepEqual(statusCodes(res.text), [200, 200])
    assert.equal(res.isClosedByPeer, false)
    assert.deepEqual(
      up.requests.map((r) => r.path),
      ['/one', '/two'],
    )
  })

  test('reports when the peer closes, and sends pieces in order', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const res = await rawRequest(
      up.port,
      ['POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\n', 'ab', 'cd'],
      { pieceDelayMs: 20 },
    )
    assert.equal(res.isClosedByPeer, true)
    assert.equal(res.isTimedOut, false)
    assert.deepEqual(statusCodes(res.text), [200])
    assert.equal(up.requests[0]?.body, 'abcd')
  })

  test('times out when nothing closes the connection', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const res = await rawRequest(up.port, 'GET / HTTP/1.1\r\nHost: a\r\n', { timeoutMs: 200 })
    assert.equal(res.isTimedOut, true)
    assert.equal(res.bytes.length, 0)
  })
})

describe('raw upstream', () => {
  test('records the exact bytes of a chunked request and answers it', async (t) => {
    const raw = await startRawUpstream()
    t.after(() => raw.close())
    const wire =
      'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n'
    const res = await rawRequest(raw.port, wire, { idleMs: 100 })
    assert.deepEqual(statusCodes(res.text), [200])
    assert.match(res.text, /x-raw-request: 0\/0/)
    assert.equal(raw.requests.length, 1)
    const [req] = raw.requests
    assert.equal(req?.method, 'POST')
    assert.equal(req?.target, '/up')
    assert.equal(req?.body.toString(), 'abcde')
    assert.equal(req?.raw.toString('latin1'), wire)
    assert.equal(raw.connections[0]?.data.toString('latin1'), wire)
  })

  test('frames pipelined requests by content-length', async (t) => {
    const raw = await startRawUpstream()
    t.after(() => raw.close())
    const wire =
      'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz' +
      'GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    const res = await rawRequest(raw.port, wire)
    assert.equal(res.isClosedByPeer, true)
    assert.deepEqual(statusCodes(res.text), [200, 200])
    assert.deepEqual(
      raw.requests.map((r) => r.target),
      ['/a', '/b'],
    )
  })

  test('answers 400 and stops framing on an ambiguous request', async (t) => {
    const raw = await startRawUpstream()
    t.after(() => raw.close())
    const wire =
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
    const res = await rawRequest(raw.port, wire)
    assert.deepEqual(statusCodes(res.text), [400])
    assert.equal(raw.requests.length, 0)
    assert.match(raw.connections[0]?.error ?? '', /both transfer-encoding and content-length/)
  })

  test('sends a canned response when given one', async (t) => {
    const raw = await startRawUpstream({
      response: 'HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n',
    })
    t.after(() => raw.close())
    const res = await rawRequest(raw.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 100 })
    assert.deepEqual(statusCodes(res.text), [201])
  })
})

describe('curl', () => {
  test('reaches the upstream', { skip: !hasCurl() && 'curl not installed' }, async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const res = await curl(['-s', '-H', 'x-from: curl', `${up.url}/via-curl`])
    assert.equal(res.code, 0)
    const echo = JSON.parse(res.stdout) as RecordedRequest
    assert.equal(echo.path, '/via-curl')
    assert.equal(echo.headers['x-from'], 'curl')
  })
})

describe('config documents', () => {
  test('gatewayConfigDoc renders the given ports', () => {
    const yaml = gatewayConfigDoc({
      readinessPort: 41001,
      adminPort: 41002,
      metricsPort: 41003,
      accessLog: false,
      drainTimeout: '2s',
    })
    const [doc] = parseAllDocuments(yaml)
    assert.ok(doc && 'toJS' in doc)
    assert.deepEqual(doc.toJS(), {
      apiVersion: 'portcullis.io/v1alpha1',
      kind: 'GatewayConfig',
      metadata: { name: 'gateway' },
      spec: {
        bindAddress: '127.0.0.1',
        admin: { address: '127.0.0.1', port: 41002 },
        readiness: { port: 41001 },
        metrics: { port: 41003 },
        accessLog: { disabled: true },
        drainTimeout: '2s',
      },
    })
    assert.equal(readinessPortOf(yaml), 41001)
  })

  test('unset admin and metrics ports are disabled, never the defaults', () => {
    const yaml = gatewayConfigDoc({ readinessPort: 41001 })
    assert.doesNotMatch(yaml, /1500\d|15021|15090/)
    assert.match(yaml, /admin:\n {4}address: 127\.0\.0\.1\n {4}port: 0/)
  })

  test('proxyRouteDocs joins into a four-document file', () => {
    const yaml = joinDocs(
      gatewayConfigDoc({ readinessPort: 41001 }),
      proxyRouteDocs({ gatewayPort: 41010, upstreamPort: 41020 }),
    )
    const docs = parseAllDocuments(yaml).map(
      (d) =>
        ('toJS' in d ? d.toJS() : null) as {
          kind: string
          spec: Record<string, unknown>
        },
    )
    assert.deepEqual(
      docs.map((d) => d.kind),
      ['GatewayConfig', 'Gateway', 'VirtualService', 'ServiceEntry'],
    )
    assert.deepEqual(docs[3]?.spec['endpoints'], [{ address: '127.0.0.1', ports: { http: 41020 } }])
    assert.equal(readinessPortOf(yaml), 41001)
  })
})

describe('startGateway process handling (with a stub process)', () => {
  const stub = [
    process.execPath,
    '--import',
    'tsx',
    join(REPO_ROOT, 'test/e2e/harness/stub-gateway.ts'),
  ]

  test('waits for readiness, captures lines, reloads and stops', async (t) => {
    const [readinessPort] = await freePorts(1)
    const gw = await startGateway({
      yaml: gatewayConfigDoc({ readinessPort: readinessPort! }) + '# v1\n',
      command: stub,
    })
    t.after(() => gw.cleanup())
    assert.equal(gw.readinessPort, readinessPort)
    await gw.waitForLine(/stub: readiness on/)
    assert.ok(gw.stdout.some((l) => l.includes(`readiness on ${readinessPort}`)))

    const mark = gw.mark()
    await gw.writeConfig(gatewayConfigDoc({ readinessPort: readinessPort! }) + '# v2\n')
    gw.reload()
    assert.equal(
      await gw.waitForLine(/stub: reloaded/, 5000, { since: mark }),
      'stub: reloaded # v2',
    )

    assert.equal(await gw.stop(), 0)
    assert.ok(gw.stderr.includes('stub: draining'))
  })

  test('rejects with the exit code and stderr when the process exits early', async () => {
    const [readinessPort] = await freePorts(1)
    await assert.rejects(
      startGateway({
        yaml: gatewayConfigDoc({ readinessPort: readinessPort! }),
        command: stub,
        env: { STUB_MODE: 'exit' },
      }),
      (err: Error) => {
        assert.match(err.message, /exited \(code 3/)
        assert.match(err.message, /refusing to start: boom/)
        return true
      },
    )
  })

  test('rejects and kills the process when it never becomes ready', async () => {
    const [readinessPort] = await freePorts(1)
    await assert.rejects(
      startGateway({
        yaml: gatewayConfigDoc({ readinessPort: readinessPort! }),
        command: stub,
        env: { STUB_MODE: 'never-ready' },
        // Long enough for the stub to start under tsx on a busy machine, so it answers 503.
        readyTimeoutMs: 6000,
      }),
      (err: Error) => {
        assert.match(err.message, /not ready within 6000 ms/)
        assert.match(err.message, /last answer .*: 503/)
        // The stub's own output is part of the error.
        assert.match(err.message, /stub: readiness on/)
        return true
      },
    )
    assert.equal(await canBind(readinessPort!), true, 'the stub still holds its port')
  })

  test('files are written inside the temp dir and paths cannot escape it', async (t) => {
    const [readinessPort] = await freePorts(1)
    const gw = await startGateway({
      yaml: gatewayConfigDoc({ readinessPort: readinessPort! }),
      files: { 'certs/web/tls.crt': 'CERT' },
      command: stub,
    })
    t.after(() => gw.cleanup())
    const { readFile } = await import('node:fs/promises')
    assert.equal(await readFile(join(gw.dir, 'certs/web/tls.crt'), 'utf8'), 'CERT')
    await assert.rejects(gw.writeFile('../escape.txt', 'x'), /outside/)
  })

  test('without a readiness port it says how to get one', async () => {
    await assert.rejects(
      startGateway({ yaml: 'kind: Gateway\n', command: stub }),
      /no readiness port/,
    )
  })
})
