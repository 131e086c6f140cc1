// Routing, forwarding and local replies of the real gateway process against real upstreams on
// loopback: one gateway, one config covering every match and action a gateway route can use.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  freePort,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  rawRequest,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, HttpResponse, RecordedRequest, Upstream } from './harness/index.js'

const CONNECT_FAILURE =
  'upstream connect error or disconnect/reset before headers. reset reason: connection failure'
const SPLIT_REQUESTS = 500

interface Ports {
  gateway: number
  readiness: number
  metrics: number
  closed: number
}

interface Upstreams {
  a: Upstream
  b: Upstream
  v1: Upstream
  v2: Upstream
}

function serviceEntry(name: string, host: string, endpoints: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - {number: 80, name: http, protocol: HTTP}
  endpoints:
${endpoints}`
}

function endpoint(port: number, labels?: Record<string, string>): string {
  const labelLine = labels === undefined ? '' : `\n      labels: ${JSON.stringify(labels)}`
  return `    - address: 127.0.0.1
      ports: {http: ${port}}${labelLine}
`
}

function direct(name: string, match: string, body: string): string {
  return `    - name: ${name}
      match:
${match}
      directResponse:
        status: 200
        body: {string: ${JSON.stringify(body)}}
`
}

function routingConfig(ports: Ports, up: Upstreams): string {
  const main = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: main
spec:
  hosts: ['*']
  gateways: [edge]
  http:
${direct('m-exact', '        - uri: {exact: /match/exact}', 'm-exact')}
${direct('m-prefix', '        - uri: {prefix: /match/prefix}', 'm-prefix')}
${direct('m-regex', '        - uri: {regex: "/match/re/[0-9]+"}', 'm-regex')}
${direct(
  'm-header',
  '        - uri: {prefix: /match/hdr}\n          headers: {x-tier: {exact: gold}}',
  'm-header',
)}
${direct(
  'm-without',
  '        - uri: {prefix: /match/hdr}\n          withoutHeaders: {x-block: {exact: "yes"}}',
  'm-without',
)}
${direct(
  'm-query',
  '        - uri: {prefix: /match/query}\n          queryParams: {version: {exact: v2}}',
  'm-query',
)}
${direct('m-post', '        - uri: {prefix: /match/method}\n          method: {exact: POST}', 'm-post')}
${direct('m-case', '        - uri: {exact: /match/CaseY}\n          ignoreUriCase: true', 'm-case')}
${direct('m-fallback', '        - uri: {prefix: /match}', 'm-fallback')}
${direct('host-any', '        - uri: {exact: /whoami}', 'catch-all')}
    - name: split
      match: [{uri: {prefix: /split}}]
      route:
        - destination: {host: a.upstream.test, port: {number: 80}}
          weight: 80
        - destination: {host: b.upstream.test, port: {number: 80}}
          weight: 20
    - name: subset-v1
      match: [{uri: {prefix: /subset/v1}}]
      route:
        - destination: {host: svc.upstream.test, subset: v1}
    - name: subset-v2
      match: [{uri: {prefix: /subset/v2}}]
      route:
        - destination: {host: svc.upstream.test, subset: v2}
    - name: rewrite-prefix
      match: [{uri: {prefix: /rw/}}]
      rewrite: {uri: /new/}
      route:
        - destination: {host: a.upstream.test}
    - name: rewrite-regex
      match: [{uri: {prefix: /rx/}}]
      rewrite:
        uriRegexRewrite: {match: '^/rx/([a-z]+)/([a-z]+)$', rewrite: '/swapped/\\2/\\1'}
      route:
        - destination: {host: a.upstream.test}
    - name: rewrite-authority
      match: [{uri: {prefix: /authority}}]
      rewrite: {authority: rewritten.example.com}
      route:
        - destination: {host: a.upstream.test}
    - name: redirect-default
      match: [{uri: {prefix: /old}}]
      redirect: {uri: /new-home}
    - name: redirect-302
      match: [{uri: {prefix: /moved}}]
      redirect: {uri: /elsewhere, authority: other.example.com, redirectCode: 302}
    - name: teapot
      match: [{uri: {exact: /direct}}]
      directResponse:
        status: 418
        body: {string: "short and stout\\n"}
      headers:
        response:
          set: {x-direct: teapot}
    - name: header-ops
      match: [{uri: {prefix: /headers-ops}}]
      headers:
        request:
          set: {x-set: set-by-route}
          add: {x-add: added-by-route}
          remove: [x-remove-me]
        response:
          set: {x-resp-set: from-route}
          add: {x-resp-add: added}
          remove: [x-upstream-name]
      route:
        - destination: {host: a.upstream.test}
    - name: missing-subset
      match: [{uri: {prefix: /nc}}]
      route:
        - destination: {host: svc.upstream.test, subset: v9}
    - name: closed-port
      match: [{uri: {prefix: /uf}}]
      route:
        - destination: {host: closed.upstream.test}
    - name: unresolvable
      match: [{uri: {prefix: /uh}}]
      route:
        - destination: {host: nowhere.invalid}
    - name: proxy
      match: [{uri: {prefix: /proxy}}]
      route:
        - destination: {host: a.upstream.test}
`
  const exact = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: exact-host
spec:
  hosts: [api.example.com]
  gateways: [edge]
  http:
${direct('host-exact', '        - uri: {exact: /whoami}', 'exact')}`
  const wildcard = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: wildcard-host
spec:
  hosts: ['*.example.com']
  gateways: [edge]
  http:
${direct('host-wildcard', '        - uri: {exact: /whoami}', 'wildcard')}`
  return joinDocs(
    gatewayConfigDoc({ readinessPort: ports.readiness, metricsPort: ports.metrics }),
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  servers:
    - port: {number: ${ports.gateway}, name: http, protocol: HTTP}
      hosts: ['*']
`,
    main,
    exact,
    wildcard,
    serviceEntry('a', 'a.upstream.test', endpoint(up.a.port)),
    serviceEntry('b', 'b.upstream.test', endpoint(up.b.port)),
    serviceEntry(
      'svc',
      'svc.upstream.test',
      endpoint(up.v1.port, { version: 'v1' }) + endpoint(up.v2.port, { version: 'v2' }),
    ),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: svc
spec:
  host: svc.upstream.test
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
`,
    serviceEntry('closed', 'closed.upstream.test', endpoint(ports.closed)),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: nowhere
spec:
  hosts: [nowhere.invalid]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
    - {number: 80, name: http, protocol: HTTP}
`,
  )
}

// The echo upstream answers with the request it saw.
function seen(res: HttpResponse): RecordedRequest {
  return res.json<RecordedRequest>()
}

describe('gateway routing (real process, real upstreams)', () => {
  let gw: GatewayProcess
  let base: string
  let ports: Ports
  let up: Upstreams
  const toClose: Array<() => Promise<void>> = []

  before(async () => {
    const [gateway, readiness, metrics] = await freePorts(3)
    // Nothing listens on this one: connections to it are refused.
    const closed = await freePort()
    ports = { gateway: gateway!, readiness: readiness!, metrics: metrics!, closed }
    up = {
      a: await startUpstream({ name: 'a' }),
      b: await startUpstream({ name: 'b' }),
      v1: await startUpstream({ name: 'v1' }),
      v2: await startUpstream({ name: 'v2' }),
    }
    for (const u of [up.a, up.b, up.v1, up.v2]) toClose.push(() => u.close())
    gw = await startGateway({ yaml: routingConfig(ports, up) })
    toClose.push(() => gw.cleanup())
    base = `http://127.0.0.1:${ports.gateway}`
  })
  after(async () => {
    for (const close of toClose.reverse()) await close()
  })

  const get = (path: string, headers?: Record<string, string>): Promise<HttpResponse> =>
    request(`${base}${path}`, headers ? { headers } : {})

  describe('matching', () => {
    test('uri exact, raw-string prefix and regex', async () => {
      assert.equal((await get('/match/exact')).text, 'm-exact')
      // exact means exact: a longer path falls through to the catch-all of /match
      assert.equal((await get('/match/exact/more')).text, 'm-fallback')
      assert.equal((await get('/match/prefix')).text, 'm-prefix')
      // a raw string prefix, not a path-segment prefix
      assert.equal((await get('/match/prefixed/x')).text, 'm-prefix')
      assert.equal((await get('/match/re/123')).text, 'm-regex')
      // the regex must match the whole path
      assert.equal((await get('/match/re/123x')).text, 'm-fallback')
      assert.equal((await get('/match/re/123?x=1')).text, 'm-regex')
    })

    test('headers and withoutHeaders', async () => {
      assert.equal((await get('/match/hdr', { 'x-tier': 'gold' })).text, 'm-header')
      assert.equal((await get('/match/hdr', { 'x-tier': 'silver' })).text, 'm-without')
      assert.equal((await get('/match/hdr')).text, 'm-without')
      assert.equal((await get('/match/hdr', { 'x-block': 'yes' })).text, 'm-fallback')
      assert.equal((await get('/match/hdr', { 'x-block': 'no' })).text, 'm-without')
    })

    test('query parameters', async () => {
      assert.equal((await get('/match/query?version=v2')).text, 'm-query')
      assert.equal((await get('/match/query?a=1&version=v2')).text, 'm-query')
      assert.equal((await get('/match/query?version=v1')).text, 'm-fallback')
      assert.equal((await get('/match/query')).text, 'm-fallback')
    })

    test('method', async () => {
      const post = await request(`${base}/match/method`, { method: 'POST', body: 'x' })
      assert.equal(post.text, 'm-post')
      assert.equal((await get('/match/method')).text, 'm-fallback')
    })

    test('ignoreUriCase', async () => {
      assert.equal((await get('/match/CaseY')).text, 'm-case')
      assert.equal((await get('/match/casey')).text, 'm-case')
      assert.equal((await get('/match/CASEY')).text, 'm-case')
    })

    test('host precedence across VirtualServices: exact, then *.example.com, then *', async () => {
      const whoami = async (host: string): Promise<string> => {
        const res = await get('/whoami', { host })
        assert.equal(res.status, 200, host)
        return res.text
      }
      assert.equal(await whoami('api.example.com'), 'exact')
      assert.equal(await whoami('API.Example.com'), 'exact')
      assert.equal(await whoami('api.example.com:8443'), 'exact')
      assert.equal(await whoami('www.example.com'), 'wildcard')
      assert.equal(await whoami('deep.www.example.com:9000'), 'wildcard')
      assert.equal(await whoami('example.com'), 'catch-all')
      assert.equal(await whoami('other.test'), 'catch-all')
      // the exact and wildcard hosts have no other route: no fall through to the '*' host
      assert.equal((await get('/match/exact', { host: 'api.example.com' })).status, 404)
    })
  })

  describe('destinations', () => {
    test(`weighted split 80/20 over ${SPLIT_REQUESTS} requests`, async () => {
      up.a.reset()
      up.b.reset()
      const counts = { a: 0, b: 0 }
      for (let i = 0; i < SPLIT_REQUESTS; i++) {
        const res = await get(`/split/${i}`)
        assert.equal(res.status, 200)
        const name = res.headers['x-upstream-name']
        assert.ok(name === 'a' || name === 'b', `unexpected upstream ${String(name)}`)
        counts[name]++
      }
      assert.equal(counts.a + counts.b, SPLIT_REQUESTS)
      assert.equal(up.a.requests.length, counts.a)
      assert.equal(up.b.requests.length, counts.b)
      // Binomial(500, 0.8): mean 400, sd ~8.9; +-5 sd stays well clear of chance failures.
      assert.ok(counts.a >= 355 && counts.a <= 445, `a got ${counts.a} of ${SPLIT_REQUESTS}`)
    })

    test('subsets select STATIC endpoints by DestinationRule labels', async () => {
      for (let i = 0; i < 6; i++) {
        assert.equal((await get('/subset/v1')).headers['x-upstream-name'], 'v1')
        assert.equal((await get('/subset/v2')).headers['x-upstream-name'], 'v2')
      }
    })
  })

  describe('actions', () => {
    test('prefix rewrite swaps the matched prefix and keeps the query', async () => {
      const res = await get('/rw/deep/path?q=1&r=two')
      assert.equal(res.status, 200)
      assert.equal(seen(res).url, '/new/deep/path?q=1&r=two')
    })

    test('uriRegexRewrite substitutes capture groups and keeps the query', async () => {
      const res = await get('/rx/first/second?keep=yes')
      assert.equal(res.status, 200)
      assert.equal(seen(res).url, '/swapped/second/first?keep=yes')
    })

    test('authority rewrite sets the upstream Host', async () => {
      const res = await get('/authority', { host: 'client.example.org' })
      assert.equal(seen(res).headers.host, 'rewritten.example.com')
    })

    test('redirect: 301 by default, Location exact, query kept', async () => {
      const res = await get('/old/page?x=1&y=2', { host: 'shop.test:8081' })
      assert.equal(res.status, 301)
      assert.equal(res.headers.location, 'http://shop.test:8081/new-home?x=1&y=2')
      assert.equal(res.headers.server, 'istio-envoy')
    })

    test('redirect with authority and redirectCode', async () => {
      const res = await get('/moved?a=b', { host: 'shop.test' })
      assert.equal(res.status, 302)
      assert.equal(res.headers.location, 'http://other.example.com/elsewhere?a=b')
    })

    test('directResponse with body and a response header', async () => {
      const res = await get('/direct')
      assert.equal(res.status, 418)
      assert.equal(res.text, 'short and stout\n')
      assert.equal(res.headers['x-direct'], 'teapot')
      assert.equal(res.headers.server, 'istio-envoy')
    })

    test('request and response header set/add/remove', async () => {
      const res = await get('/headers-ops', {
        'x-set': 'from-client',
        'x-add': 'from-client',
        'x-remove-me': 'please',
      })
      assert.equal(res.status, 200)
      const upstream = seen(res).headers
      assert.equal(upstream['x-set'], 'set-by-route')
      assert.equal(upstream['x-add'], 'from-client, added-by-route')
      assert.equal(upstream['x-remove-me'], undefined)
      assert.equal(res.headers['x-resp-set'], 'from-route')
      assert.equal(res.headers['x-resp-add'], 'added')
      assert.equal(res.headers['x-upstream-name'], undefined)
    })
  })

  describe('forwarding headers', () => {
    test('x-forwarded-for, x-forwarded-proto, attempt count, service time, server', async () => {
      const res = await get('/proxy/fwd', {
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
      })
      assert.equal(res.status, 200)
      const upstream = seen(res).headers
      assert.equal(upstream['x-forwarded-for'], '203.0.113.9,127.0.0.1')
      // No trusted proxies: the listener's scheme wins over what the client claims.
      assert.equal(upstream['x-forwarded-proto'], 'http')
      assert.equal(upstream['x-envoy-attempt-count'], '1')
      assert.match(String(res.headers['x-envoy-upstream-service-time']), /^\d+$/)
      assert.equal(res.headers.server, 'istio-envoy')
    })

    test('x-request-id is kept when sent and generated when not', async () => {
      const kept = seen(await get('/proxy/rid', { 'x-request-id': 'client-chosen-id-1' }))
      assert.equal(kept.headers['x-request-id'], 'client-chosen-id-1')
      const a = seen(await get('/proxy/rid')).headers['x-request-id']
      const b = seen(await get('/proxy/rid')).headers['x-request-id']
      assert.match(String(a), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      assert.notEqual(a, b)
    })

    test('hop-by-hop headers are not forwarded; Connection cannot nominate x-request-id', async () => {
      up.a.reset()
      const res = await rawRequest(
        ports.gateway,
        'GET /proxy/hop HTTP/1.1\r\nHost: hop.test\r\n' +
          'Connection: close, x-secret, x-request-id\r\nx-secret: s3cret\r\n' +
          'Keep-Alive: timeout=5\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n' +
          'TE: trailers\r\nx-request-id: nominated-id\r\nx-normal: kept\r\n\r\n',
        { timeoutMs: 5000 },
      )
      assert.match(res.text, /^HTTP\/1\.1 200 /)
      assert.equal(up.a.requests.length, 1)
      const headers = up.a.requests[0]!.headers
      assert.equal(headers['x-secret'], undefined)
      assert.equal(headers['keep-alive'], undefined)
      assert.equal(headers['proxy-authorization'], undefined)
      assert.equal(headers.te, undefined)
      assert.equal(headers['x-normal'], 'kept')
      assert.equal(headers['x-request-id'], 'nominated-id')

      // Nominated but not sent: the gateway's own id still reaches the upstream.
      const generated = await rawRequest(
        ports.gateway,
        'GET /proxy/hop2 HTTP/1.1\r\nHost: hop.test\r\nConnection: x-request-id\r\n\r\n',
        { timeoutMs: 5000, idleMs: 300 },
      )
      assert.match(generated.text, /^HTTP\/1\.1 200 /)
      assert.match(String(up.a.requests[1]?.headers['x-request-id']), /^[0-9a-f-]{36}$/)
      assert.doesNotMatch(String(headers.connection), /x-secret|x-request-id|close/i)
    })
  })

  describe('local replies', () => {
    test('404 NR when no route matches', async () => {
      const res = await get('/nothing/here')
      assert.equal(res.status, 404)
      assert.equal(res.text, '')
      assert.equal(res.headers.server, 'istio-envoy')
    })

    test('503 NC for a subset no DestinationRule defines', async () => {
      const res = await get('/nc')
      assert.equal(res.status, 503)
      assert.equal(res.text, '')
    })

    test("503 UF with Istio's body for an endpoint on a closed port", async () => {
      const res = await get('/uf')
      assert.equal(res.status, 503)
      assert.equal(res.text, CONNECT_FAILURE)
    })

    test('503 UH for a DNS ServiceEntry whose host does not resolve', async () => {
      const res = await get('/uh')
      assert.equal(res.status, 503)
      assert.equal(res.text, 'no healthy upstream')
    })
  })

  describe('access log and metrics', () => {
    // Istio's default text format; the x-request-id each test sends finds its line.
    const line = async (requestId: string): Promise<string> =>
      gw.waitForLine(new RegExp(`"${requestId}"`), 5000, { stream: 'stdout' })

    test("one access log line per request in Envoy's default format", async () => {
      const res = await get('/proxy/logged?k=v', {
        'x-request-id': 'log-proxied-1',
        'user-agent': 'e2e-agent/1.0',
        host: 'logged.test',
      })
      assert.equal(res.status, 200)
      const text = await line('log-proxied-1')
      const expected = new RegExp(
        '^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] ' +
          '"GET /proxy/logged\\?k=v HTTP/1\\.1" 200 - via_upstream - "-" 0 \\d+ \\d+ \\d+ ' +
          '"-" "e2e-agent/1\\.0" "log-proxied-1" "logged\\.test" ' +
          `"127\\.0\\.0\\.1:${up.a.port}" outbound\\|80\\|\\|a\\.upstream\\.test ` +
          `\\S+ 127\\.0\\.0\\.1:${ports.gateway} 127\\.0\\.0\\.1:\\d+ - proxy$`,
      )
      assert.match(text, expected)
      const bytesSent = Number(/" 0 (\d+) /.exec(text)?.[1])
      assert.equal(bytesSent, res.bytes.length)
    })

    test('local replies are logged with their response flags', async () => {
      const cases: Array<[string, string, RegExp]> = [
        ['/nothing/logged', 'log-nr', /" 404 NR route_not_found /],
        ['/nc', 'log-nc', /" 503 NC cluster_not_found /],
        // Istio's default retry policy retries connect failures, so the flags say both.
        [
          '/uf',
          'log-uf',
          /" 503 UF,URX upstream_reset_before_response_started\{connection_failure\} /,
        ],
        ['/uh', 'log-uh', /" 503 UH no_healthy_upstream /],
      ]
      for (const [path, id, flags] of cases) {
        const res = await get(path, { 'x-request-id': id })
        assert.ok(res.status === 404 || res.status === 503, `${path}: ${res.status}`)
        assert.match(await line(id), flags, path)
      }
      assert.match(await line('log-nr'), / - - \S+ \S+ - -$/)
      assert.match(await line('log-uf'), new RegExp(`"127\\.0\\.0\\.1:${ports.closed}"`))
      assert.match(await line('log-uf'), / closed-port$/)
    })

    test('istio_requests_total counts requests by response code and flags', async () => {
      const before = await scrape()
      for (let i = 0; i < 3; i++) assert.equal((await get('/proxy/metrics')).status, 200)
      for (let i = 0; i < 2; i++) assert.equal((await get('/metrics/none')).status, 404)
      assert.equal((await get('/nc')).status, 503)
      assert.equal((await get('/uf')).status, 503)
      assert.equal((await get('/uh')).status, 503)
      assert.equal((await get('/direct')).status, 418)
      const after = await scrape()
      const delta = (labels: Record<string, string>): number =>
        requestsTotal(after, labels) - requestsTotal(before, labels)
      assert.equal(
        delta({
          response_code: '200',
          response_flags: '-',
          route_name: 'proxy',
          destination_service: 'a.upstream.test',
        }),
        3,
      )
      assert.equal(delta({ response_code: '404', response_flags: 'NR' }), 2)
      assert.equal(
        delta({ response_code: '503', response_flags: 'NC', route_name: 'missing-subset' }),
        1,
      )
      assert.equal(
        delta({ response_code: '503', response_flags: 'UF,URX', route_name: 'closed-port' }),
        1,
      )
      assert.equal(
        delta({ response_code: '503', response_flags: 'UH', route_name: 'unresolvable' }),
        1,
      )
      assert.equal(delta({ response_code: '418', response_flags: '-', route_name: 'teapot' }), 1)
      assert.deepEqual(
        seriesOf(after, { route_name: 'missing-subset' }).map((s) => s.labels['response_flags']),
        ['NC'],
      )
    })

    const scrape = async (): Promise<string> => {
      const res = await request(`http://127.0.0.1:${ports.metrics}/stats/prometheus`)
      assert.equal(res.status, 200)
      return res.text
    }
  })
})

interface Sample {
  labels: Record<string, string>
  value: number
}

// istio_requests_total samples of a Prometheus text exposition whose labels include `want`.
function seriesOf(text: string, want: Record<string, string>): Sample[] {
  const out: Sample[] = []
  for (const row of text.split('\n')) {
    const m = /^istio_requests_total\{(.*)\} (\S+)$/.exec(row)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const [, k, v] of m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) {
      out.push({ labels, value: Number(m[2]) })
    }
  }
  return out
}

function requestsTotal(text: string, want: Record<string, string>): number {
  return seriesOf(text, want).reduce((sum, s) => sum + s.value, 0)
}
