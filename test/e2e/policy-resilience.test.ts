// Upstream resilience through the real gateway process, against purpose-built upstreams on
// loopback: retries and x-envoy-attempt-count, a streamed POST that is not retried, mid-body
// resets, route and per-try timeouts, outlier ejection (also across a reload), the circuit
// breaker, fault percentages, mirrors, CORS, sticky hashing, and the response flag of each case
// in the access log. Together these are the upstream fault matrix of hardening.md §6: refused
// 503 UF, no endpoint 503 UH, overflow 503 UO, reset before the response 503 UC, malformed 502
// UPE, timeout 504 UT, a mid-body reset truncated, a POST not retried once sent, and exactly
// 1 + retries attempts.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { performance } from 'node:perf_hooks'
import { Agent } from 'undici'
import {
  freePort,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  rawRequest,
  request,
  type GatewayProcess,
  type HttpResponse,
  startGateway,
} from './harness/index.js'
import { MALFORMED, startFaultUpstream, type FaultUpstream } from './harness/fault-upstream.js'

const CONNECT_FAILURE =
  'upstream connect error or disconnect/reset before headers. reset reason: connection failure'
const TERMINATION =
  'upstream connect error or disconnect/reset before headers. reset reason: connection termination'
const OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow'
const PROTOCOL_ERROR =
  'upstream connect error or disconnect/reset before headers. reset reason: protocol error'
const LOG_TIMEOUT_MS = 10_000

/** A STATIC ServiceEntry `<name>.svc.test` on loopback ports, and its DestinationRule if any. */
function service(name: string, ports: number[], trafficPolicy?: string[]): string[] {
  const out = [
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${name}.svc.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - { number: 80, name: http, protocol: HTTP }
  endpoints:
${ports.map((p) => `    - { address: 127.0.0.1, ports: { http: ${p} } }`).join('\n')}`,
  ]
  if (trafficPolicy !== undefined) {
    out.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
spec:
  host: ${name}.svc.test
  trafficPolicy:
${trafficPolicy.map((l) => `    ${l}`).join('\n')}`)
  }
  return out
}

/** A VirtualService for Host `<name>.test`: one http route to `<dest>.svc.test` plus `extra`. */
function route(name: string, dest: string, extra: string[] = []): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: [${name}.test]
  gateways: [gw]
  http:
    - name: ${name}
      route:
        - destination: { host: ${dest}.svc.test, port: { number: 80 } }
${extra.map((l) => `      ${l}`).join('\n')}`
}

describe('upstream resilience (real gateway process)', () => {
  let gw: GatewayProcess
  let gatewayPort = 0
  let main: FaultUpstream
  let good: FaultUpstream
  let bad: FaultUpstream
  let mirror: FaultUpstream
  let breaker: FaultUpstream
  const agent = new Agent({ connections: 64 })
  let baseYaml = ''

  before(async () => {
    main = await startFaultUpstream({ name: 'main' })
    good = await startFaultUpstream({ name: 'good' })
    bad = await startFaultUpstream({ name: 'bad', alwaysStatus: 500 })
    mirror = await startFaultUpstream({ name: 'mirror' })
    breaker = await startFaultUpstream({ name: 'breaker' })
    const closed = await freePort()
    const [port, readinessPort] = await freePorts(2)
    gatewayPort = port!
    const outlier = (baseEjectionTime: string, consecutive: number): string[] => [
      'loadBalancer: { simple: ROUND_ROBIN }',
      `outlierDetection: { consecutive5xxErrors: ${consecutive}, interval: 1s, baseEjectionTime: ${baseEjectionTime}, maxEjectionPercent: 100 }`,
    ]
    baseYaml = joinDocs(
      gatewayConfigDoc({ readinessPort: readinessPort! }),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  servers:
    - port: { number: ${gatewayPort}, name: http, protocol: HTTP }
      hosts: ["*"]`,
      ...service('main', [main.port]),
      ...service('mirror', [mirror.port]),
      ...service('closed', [closed]),
      ...service('outlier', [bad.port, good.port], outlier('2s', 3)),
      ...service('reloaded', [bad.port, good.port], outlier('60s', 3)),
      ...service('allbad', [bad.port], outlier('60s', 1)),
      ...service(
        'breaker',
        [breaker.port],
        ['connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } }'],
      ),
      ...service(
        'sticky',
        [main.port, good.port, mirror.port],
        ['loadBalancer: { consistentHash: { httpHeaderName: x-user } }'],
      ),
      route('retry', 'main', ['retries: { attempts: 3, retryOn: 5xx }']),
      route('reset', 'main', ['retries: { attempts: 2, retryOn: reset }']),
      route('trunc', 'main'),
      route('timeout', 'main', ['timeout: 500ms', 'retries: { attempts: 0 }']),
      route('pertry', 'main', [
        'timeout: 10s',
        'retries: { attempts: 2, perTryTimeout: 300ms, retryOn: 5xx }',
      ]),
      route('uf', 'closed'),
      route('outlier', 'outlier', ['retries: { attempts: 0 }']),
      route('reloaded', 'reloaded', ['retries: { attempts: 0 }']),
      route('uh', 'allbad', ['retries: { attempts: 0 }']),
      route('breaker', 'breaker', ['retries: { attempts: 0 }']),
      route('abort', 'main', ['fault: { abort: { httpStatus: 503, percentage: { value: 50 } } }']),
      route('delay', 'main', [
        'fault: { delay: { fixedDelay: 100ms, percentage: { value: 50 } } }',
      ]),
      route('mirrored', 'main', [
        'mirror: { host: mirror.svc.test, port: { number: 80 } }',
        'mirrorPercentage: { value: 100 }',
      ]),
      route('deadmirror', 'main', [
        'mirror: { host: closed.svc.test, port: { number: 80 } }',
        'mirrorPercentage: { value: 100 }',
      ]),
      route('cors', 'main', [
        'corsPolicy:',
        '  allowOrigins: [{ exact: cors.com }]',
        '  allowMethods: [POST, GET]',
        '  allowHeaders: [X-Foo-Bar, X-Foo-Baz]',
        '  maxAge: 24h',
      ]),
      route('sticky', 'sticky'),
    )
    gw = await startGateway({ yaml: baseYaml })
  })

  after(async () => {
    await gw?.cleanup()
    await agent.close()
    await Promise.all([main, good, bad, mirror, breaker].map((u) => u?.close()))
  })

  const get = (
    host: string,
    path: string,
    id: string,
    opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<HttpResponse> =>
    request(`http://127.0.0.1:${gatewayPort}${path}`, {
      method: opts.method ?? 'GET',
      headers: { host, 'x-request-id': id, ...opts.headers },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      dispatcher: agent,
      timeoutMs: 15_000,
    })

  const logLine = (id: string): Promise<string> =>
    gw.waitForLine(new RegExp(`"${id}"`), LOG_TIMEOUT_MS, { stream: 'stdout' })

  describe('retries', () => {
    test('a 503 twice then 200: three attempts, counted 1, 2, 3 upstream', async () => {
      const res = await get('retry.test', '/fail/2/r1', 'retry-ok')
      assert.equal(res.status, 200)
      assert.equal(res.text, 'main')
      const hits = main.hits.filter((h) => h.requestId === 'retry-ok')
      assert.deepEqual(
        hits.map((h) => h.attemptCount),
        ['1', '2', '3'],
      )
      assert.match(await logLine('retry-ok'), /" 200 - via_upstream /)
    })

    test('always 503: exactly 1 + attempts requests, the last 503 passed through, URX', async () => {
      const res = await get('retry.test', '/status/503', 'retry-exhausted')
      assert.equal(res.status, 503)
      const hits = main.hits.filter((h) => h.requestId === 'retry-exhausted')
      assert.equal(hits.length, 4)
      assert.deepEqual(
        hits.map((h) => h.attemptCount),
        ['1', '2', '3', '4'],
      )
      assert.match(await logLine('retry-exhausted'), /" 503 URX via_upstream /)
    })

    test('a reset before headers is retried for a GET: 1 + attempts, 503 UC,URX', async () => {
      const res = await get('reset.test', '/reset', 'reset-get')
      assert.equal(res.status, 503)
      assert.equal(res.text, TERMINATION)
      assert.equal(main.hits.filter((h) => h.requestId === 'reset-get').length, 3)
      assert.match(
        await logLine('reset-get'),
        /" 503 UC,URX upstream_reset_before_response_started\{connection_termination\} /,
      )
    })

    test('a small POST body is kept and sent again on every attempt', async () => {
      const body = 'x'.repeat(1000)
      const res = await get('reset.test', '/reset', 'reset-small-post', { method: 'POST', body })
      assert.equal(res.status, 503)
      const hits = main.hits.filter((h) => h.requestId === 'reset-small-post')
      assert.equal(hits.length, 3)
      for (const h of hits) assert.equal(h.bodyBytes, 1000)
    })

    test('a chunked POST larger than the kept-body cap is streamed and never retried', async () => {
      const size = 256 * 1024
      const chunk = Buffer.alloc(16 * 1024, 0x62)
      const body = Readable.from(
        (function* () {
          for (let sent = 0; sent < size; sent += chunk.length) yield chunk
        })(),
      )
      const res = await agent.request({
        origin: `http://127.0.0.1:${gatewayPort}`,
        path: '/reset',
        method: 'POST',
        headers: { host: 'reset.test', 'x-request-id': 'reset-big-post' },
        body,
      })
      const text = await res.body.text()
      assert.equal(res.statusCode, 503)
      assert.equal(text, TERMINATION)
      const hits = main.hits.filter((h) => h.requestId === 'reset-big-post')
      assert.equal(hits.length, 1)
      assert.equal(hits[0]!.bodyBytes, size)
      assert.match(
        await logLine('reset-big-post'),
        /" 503 UC upstream_reset_before_response_started\{connection_termination\} /,
      )
    })
  })

  describe('malformed upstream responses are 502 UPE', () => {
    for (const kind of Object.keys(MALFORMED)) {
      test(`${kind}: 502 "protocol error", not retried by Istio's default retryOn`, async () => {
        const id = `upe-${kind}`
        const res = await get('trunc.test', `/malformed/${kind}`, id)
        assert.equal(res.status, 502)
        assert.equal(res.text, PROTOCOL_ERROR)
        assert.equal(main.hits.filter((h) => h.requestId === id).length, 1)
        assert.match(
          await logLine(id),
          /" 502 UPE upstream_reset_before_response_started\{protocol_error\} /,
        )
      })
    }

    test('retryOn reset retries it, as Envoy does: 1 + attempts, then 502 URX,UPE', async () => {
      const res = await get('reset.test', '/malformed/garbage', 'upe-retried')
      assert.equal(res.status, 502)
      assert.equal(main.hits.filter((h) => h.requestId === 'upe-retried').length, 3)
      assert.match(
        await logLine('upe-retried'),
        /" 502 URX,UPE upstream_reset_before_response_started\{protocol_error\} /,
      )
    })

    test('the gateway keeps serving from the same upstream afterwards', async () => {
      const res = await get('trunc.test', '/', 'upe-after')
      assert.equal(res.status, 200)
      assert.equal(res.text, 'main')
    })
  })

  test('a POST reset after it was sent is not retried by the default policy: 1 attempt, 503 UC', async () => {
    const res = await get('trunc.test', '/reset', 'reset-post-default', {
      method: 'POST',
      body: 'once',
    })
    assert.equal(res.status, 503)
    assert.equal(res.text, TERMINATION)
    const hits = main.hits.filter((h) => h.requestId === 'reset-post-default')
    assert.equal(hits.length, 1)
    assert.match(
      await logLine('reset-post-default'),
      /" 503 UC upstream_reset_before_response_started\{connection_termination\} /,
    )
  })

  describe('mid-response resets reach the client truncated', () => {
    test('content-length response: fewer bytes than announced, then the connection closes', async () => {
      const raw = await rawRequest(
        gatewayPort,
        'GET /truncate-length HTTP/1.1\r\nHost: trunc.test\r\nx-request-id: trunc-cl\r\n\r\n',
        { timeoutMs: 5000 },
      )
      assert.ok(raw.isClosedByPeer, 'the gateway closes the connection')
      const head = raw.text.slice(0, raw.text.indexOf('\r\n\r\n'))
      assert.match(head, /^HTTP\/1\.1 200 /)
      assert.match(head, /\r\ncontent-length: 100000/i)
      const bodyBytes = raw.bytes.length - Buffer.byteLength(head) - 4
      assert.ok(bodyBytes < 100_000, `${bodyBytes} body bytes`)
      assert.match(await logLine('trunc-cl'), /" 200 UC upstream_reset_after_response_started/)
    })

    test('chunked response: no terminating chunk, and undici reports an error', async () => {
      const raw = await rawRequest(
        gatewayPort,
        'GET /truncate-chunked HTTP/1.1\r\nHost: trunc.test\r\nx-request-id: trunc-chunked\r\n\r\n',
        { timeoutMs: 5000 },
      )
      assert.ok(raw.isClosedByPeer)
      assert.match(raw.text, /^HTTP\/1\.1 200 /)
      assert.match(raw.text, /transfer-encoding: chunked/i)
      assert.ok(!raw.text.endsWith('0\r\n\r\n'), 'no terminating chunk')
      await assert.rejects(get('trunc.test', '/truncate-chunked', 'trunc-undici'))
      assert.match(await logLine('trunc-chunked'), /" 200 UC /)
    })
  })

  describe('timeouts', () => {
    test('route timeout: 504 UT "upstream request timeout" after the timeout, not before', async () => {
      const start = performance.now()
      const res = await get('timeout.test', '/hang', 'timeout-route')
      const elapsed = performance.now() - start
      assert.equal(res.status, 504)
      assert.equal(res.text, 'upstream request timeout')
      // Generous upper bound: a shared 2-core machine.
      assert.ok(elapsed >= 450 && elapsed < 3000, `${elapsed} ms`)
      assert.match(await logLine('timeout-route'), /" 504 UT response_timeout /)
    })

    test('perTryTimeout: each try is cut off and retried, then 504 UT,URX', async () => {
      const start = performance.now()
      const res = await get('pertry.test', '/hang', 'timeout-pertry')
      const elapsed = performance.now() - start
      assert.equal(res.status, 504)
      const hits = main.hits.filter((h) => h.requestId === 'timeout-pertry')
      assert.deepEqual(
        hits.map((h) => h.attemptCount),
        ['1', '2', '3'],
      )
      assert.ok(elapsed >= 850 && elapsed < 6000, `${elapsed} ms`)
      assert.match(await logLine('timeout-pertry'), /" 504 UT,URX response_timeout /)
    })
  })

  describe('connect failures, ejection, overflow', () => {
    test('closed port: 503 UF,URX after the default retries', async () => {
      const res = await get('uf.test', '/', 'uf-1')
      assert.equal(res.status, 503)
      assert.equal(res.text, CONNECT_FAILURE)
      assert.match(
        await logLine('uf-1'),
        /" 503 UF,URX upstream_reset_before_response_started\{connection_failure\} /,
      )
    })

    test('ejected after exactly consecutive5xxErrors, nothing for baseEjectionTime, then back', async () => {
      const badHits = (): number => bad.hitsFor('outlier.test').length
      let ejectedAt = 0
      for (let i = 0; i < 12; i++) {
        const res = await get('outlier.test', '/', `outlier-${i}`)
        if (res.status === 500 && badHits() === 3) ejectedAt = performance.now()
      }
      assert.equal(badHits(), 3)
      assert.ok(ejectedAt > 0)
      // Well inside the 2 s ejection: everything goes to the healthy endpoint.
      while (performance.now() - ejectedAt < 1500) {
        const res = await get('outlier.test', '/', 'outlier-during')
        assert.equal(res.status, 200)
      }
      assert.equal(badHits(), 3)
      const wait = ejectedAt + 2500 - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      for (let i = 0; i < 6; i++) await get('outlier.test', '/', `outlier-back-${i}`)
      assert.ok(badHits() > 3, 'the endpoint takes traffic again after baseEjectionTime')
    })

    test('all endpoints ejected: 503 UH "no healthy upstream"', async () => {
      const first = await get('uh.test', '/', 'uh-first')
      assert.equal(first.status, 500)
      const res = await get('uh.test', '/', 'uh-1')
      assert.equal(res.status, 503)
      assert.equal(res.text, 'no healthy upstream')
      assert.match(await logLine('uh-1'), /" 503 UH no_healthy_upstream /)
    })

    test('maxConnections 1 + http1MaxPendingRequests 1, 20 concurrent: 503 UO with x-envoy-overloaded', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => get('breaker.test', '/sleep/600', `uo-${i}`)),
      )
      const overflow = results.filter((r) => r.status === 503)
      const ok = results.filter((r) => r.status === 200)
      assert.equal(overflow.length + ok.length, 20)
      assert.ok(overflow.length >= 10, `${overflow.length} overflowed`)
      assert.ok(ok.length >= 1)
      for (const r of overflow) {
        assert.equal(r.headers['x-envoy-overloaded'], 'true')
        assert.equal(r.text, OVERFLOW)
      }
      assert.equal(breaker.peakOpen, 1)
      const i = results.findIndex((r) => r.status === 503)
      assert.match(
        await logLine(`uo-${i}`),
        /" 503 UO upstream_reset_before_response_started\{overflow\} /,
      )
    })

    test('a reload that leaves the cluster unchanged keeps its ejection', async () => {
      const badHits = (): number => bad.hitsFor('reloaded.test').length
      for (let i = 0; i < 8; i++) await get('reloaded.test', '/', `reloaded-${i}`)
      assert.equal(badHits(), 3)
      const mark = gw.mark()
      await gw.writeConfig(
        joinDocs(
          baseYaml,
          `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: unrelated
spec:
  hosts: [unrelated.test]
  gateways: [gw]
  http:
    - directResponse: { status: 204 }`,
        ),
      )
      gw.reload()
      await gw.waitForLine(/config applied/, LOG_TIMEOUT_MS, { since: mark })
      assert.equal((await get('unrelated.test', '/', 'reloaded-new')).status, 204)
      for (let i = 0; i < 8; i++) {
        assert.equal((await get('reloaded.test', '/', `reloaded-after-${i}`)).status, 200)
      }
      assert.equal(badHits(), 3)
    })
  })

  describe('fault injection', () => {
    // Binomial(n, 0.5): six standard deviations either side.
    const within = (count: number, n: number): boolean =>
      Math.abs(count - n / 2) <= 6 * Math.sqrt(n / 4)

    test('abort 50%: about half are 503 "fault filter abort" (FI), never sent upstream', async () => {
      const n = 300
      const results: HttpResponse[] = []
      for (let batch = 0; batch < n; batch += 20) {
        results.push(
          ...(await Promise.all(
            Array.from({ length: 20 }, (_, i) => get('abort.test', '/', `abort-${batch + i}`)),
          )),
        )
      }
      const aborted = results.filter((r) => r.status === 503)
      for (const r of aborted) assert.equal(r.text, 'fault filter abort')
      assert.equal(aborted.length + results.filter((r) => r.status === 200).length, n)
      assert.ok(within(aborted.length, n), `${aborted.length} of ${n} aborted`)
      assert.equal(main.hitsFor('abort.test').length, n - aborted.length)
      const i = results.findIndex((r) => r.status === 503)
      assert.match(await logLine(`abort-${i}`), /" 503 FI fault_filter_abort /)
    })

    test('delay 50%: about half are delayed and logged DI', async () => {
      const n = 200
      const ids = Array.from({ length: n }, (_, i) => `delay-${i}`)
      for (let batch = 0; batch < n; batch += 20) {
        await Promise.all(ids.slice(batch, batch + 20).map((id) => get('delay.test', '/', id)))
      }
      let delayed = 0
      for (const id of ids) {
        const line = await logLine(id)
        assert.match(line, /" 200 (DI|-) via_upstream /)
        if (/" 200 DI /.test(line)) delayed++
      }
      assert.ok(within(delayed, n), `${delayed} of ${n} delayed`)
    })
  })

  describe('mirrors', () => {
    test('every request is copied to the mirror; the response is the primary one', async () => {
      for (let i = 0; i < 5; i++) {
        const res = await get('mirrored.test', '/copy', `mirror-${i}`)
        assert.equal(res.status, 200)
        assert.equal(res.text, 'main')
      }
      for (let i = 0; i < 100 && mirror.hitsFor('mirrored.test').length < 5; i++) {
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.equal(mirror.hitsFor('mirrored.test').length, 5)
      assert.equal(main.hitsFor('mirrored.test').length, 5)
    })

    test('a dead mirror changes nothing', async () => {
      for (let i = 0; i < 5; i++) {
        const res = await get('deadmirror.test', '/copy', `deadmirror-${i}`)
        assert.equal(res.status, 200)
        assert.equal(res.text, 'main')
        assert.match(await logLine(`deadmirror-${i}`), /" 200 - via_upstream /)
      }
    })
  })

  test('CORS preflight is answered at the gateway with exactly the policy headers', async () => {
    const res = await get('cors.test', '/cors', 'cors-preflight', {
      method: 'OPTIONS',
      headers: { origin: 'cors.com', 'access-control-request-method': 'DELETE' },
    })
    assert.equal(res.status, 200)
    assert.equal(res.headers['access-control-allow-origin'], 'cors.com')
    assert.equal(res.headers['access-control-allow-methods'], 'POST,GET')
    assert.equal(res.headers['access-control-allow-headers'], 'X-Foo-Bar,X-Foo-Baz')
    assert.equal(res.headers['access-control-max-age'], '86400')
    assert.equal(main.hitsFor('cors.test').length, 0)
    const actual = await get('cors.test', '/cors', 'cors-get', { headers: { origin: 'cors.com' } })
    assert.equal(actual.headers['access-control-allow-origin'], 'cors.com')
    const noOrigin = await get('cors.test', '/cors', 'cors-none')
    assert.equal(noOrigin.headers['access-control-allow-origin'], undefined)
  })

  test('consistent hash by header: each key sticks to one endpoint', async () => {
    const servers = new Set<string>()
    for (let u = 0; u < 20; u++) {
      const seen = new Set<string>()
      for (let i = 0; i < 5; i++) {
        const res = await get('sticky.test', '/', `sticky-${u}-${i}`, {
          headers: { 'x-user': `user-${u}` },
        })
        assert.equal(res.status, 200)
        seen.add(res.text)
      }
      assert.equal(seen.size, 1, `user-${u} went to ${[...seen].join(', ')}`)
      servers.add([...seen][0]!)
    }
    assert.ok(servers.size >= 2, 'keys spread over the endpoints')
  })
})
