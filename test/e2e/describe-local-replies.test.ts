// `describe` against the live data plane, one row per local-reply kind the gateway produces:
// for each request, GET /describe on the admin API is asked first, then the request is sent and
// what it actually got (status, and the response flags of its access-log line) must be what
// describe said. A forwarded request that fails to connect (UF) is described as forwarded to
// the endpoint that refused, which is the one the access log names. A full circuit breaker
// (UO) and a cluster whose every endpoint is ejected (UH) are live state: describe reads them
// from the running data plane.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  freePort,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const LOG_FORMAT = '%REQ(X-REQUEST-ID)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST%\\n'

function routes(port: number, up: Upstream, deadPort: number): string {
  const vs = (host: string, http: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${host.split('.')[0]!}}
spec:
  hosts: [${host}]
  gateways: [edge]
  http:
${http}`
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
    - port: {number: ${port}, name: http, protocol: HTTP}
      hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app}
spec:
  hosts: [app.internal]
  ports: [{number: ${up.port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dead}
spec:
  hosts: [dead.internal]
  ports: [{number: ${deadPort}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: slow}
spec:
  hosts: [slow.internal, flaky.internal]
  ports: [{number: ${up.port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: slow}
spec:
  host: slow.internal
  trafficPolicy:
    connectionPool: {http: {http2MaxRequests: 1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky}
spec:
  host: flaky.internal
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 5m, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app}
spec:
  host: app.internal
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: none, labels: {version: v9}}
${vs('ok.test', '    - match: [{uri: {prefix: /ok}}]\n      route: [{destination: {host: app.internal}}]\n')}${vs(
    'nc.test',
    '    - route: [{destination: {host: app.internal, subset: missing}}]\n',
  )}${vs('uh.test', '    - route: [{destination: {host: app.internal, subset: none}}]\n')}${vs(
    'uf.test',
    '    - route: [{destination: {host: dead.internal}}]\n',
  )}${vs('slow.test', '    - route: [{destination: {host: slow.internal}}]\n')}${vs(
    'flaky.test',
    '    - route: [{destination: {host: flaky.internal}}]\n      retries: {attempts: 0}\n',
  )}${vs('moved.test', '    - redirect: {uri: /new, authority: ok.test}\n')}${vs(
    'direct.test',
    '    - directResponse: {status: 418, body: {string: teapot}}\n',
  )}`
}

interface Row {
  readonly kind: string
  readonly host: string
  readonly path: string
  /** What the request gets: status and the access log's response flags. */
  readonly status: number
  readonly flags: string
  /** Brings the live data plane into the state the row is about; returns what undoes it. */
  readonly setup?: (gw: Live) => Promise<() => Promise<void>>
}

interface Live {
  readonly port: number
  readonly admin: string
}

/** Waits until GET /clusters (Envoy's text form) has a line matching `line`. */
async function clustersShow(admin: string, line: RegExp): Promise<void> {
  const until = Date.now() + 10_000
  let last = ''
  while (Date.now() < until) {
    last = (await request(`${admin}/clusters`)).text
    if (line.test(last)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`/clusters never showed ${String(line)}:\n${last}`)
}

/** One request held in flight on slow.test: its breaker (http2MaxRequests: 1) is full. */
async function fillBreaker(gw: Live): Promise<() => Promise<void>> {
  const held = request(`http://127.0.0.1:${gw.port}/delay/3`, { headers: { host: 'slow.test' } })
  await clustersShow(gw.admin, /^outbound\|\d+\|\|slow\.internal::rq_active::1$/m)
  return async () => {
    assert.equal((await held).status, 200)
  }
}

/** One 503 from flaky.test's only endpoint: consecutive5xxErrors 1 ejects it. */
async function ejectAll(gw: Live): Promise<() => Promise<void>> {
  const first = await request(`http://127.0.0.1:${gw.port}/status/503`, {
    headers: { host: 'flaky.test' },
  })
  assert.equal(first.status, 503)
  await clustersShow(
    gw.admin,
    /flaky\.internal::127\.0\.0\.1:\d+::health_flags::\/failed_outlier_check/,
  )
  return () => Promise.resolve()
}

// NR here is a host whose VirtualService has no route for the path: on an egress port a host
// no VirtualService serves is the egress policy's to decide (the denial row).
const ROWS: readonly Row[] = [
  { kind: 'forwarded', host: 'ok.test', path: '/ok', status: 200, flags: '-' },
  { kind: 'NR', host: 'ok.test', path: '/other', status: 404, flags: 'NR' },
  { kind: 'NC', host: 'nc.test', path: '/', status: 503, flags: 'NC' },
  { kind: 'UH', host: 'uh.test', path: '/', status: 503, flags: 'UH' },
  { kind: 'UF', host: 'uf.test', path: '/', status: 503, flags: 'UF' },
  { kind: 'UO', host: 'slow.test', path: '/', status: 503, flags: 'UO', setup: fillBreaker },
  {
    kind: 'UH (every endpoint ejected)',
    host: 'flaky.test',
    path: '/',
    status: 503,
    flags: 'UH',
    setup: ejectAll,
  },
  { kind: 'redirect', host: 'moved.test', path: '/old', status: 301, flags: '-' },
  { kind: 'direct response', host: 'direct.test', path: '/', status: 418, flags: '-' },
  { kind: 'egress denial', host: 'unknown.example.com', path: '/', status: 502, flags: 'EG' },
]

interface Description {
  readonly outcome: { readonly status: number | 'forward'; readonly flag?: string }
  readonly destinations: readonly { readonly endpoints?: readonly string[] }[]
  readonly summary: string
}

describe('describe answers what the data plane did, for every local-reply kind', () => {
  let gw: GatewayProcess
  let up: Upstream
  let port: number
  let admin: string
  let dir: string
  let logPath: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-describe-'))
    logPath = join(dir, 'access.log')
    up = await startUpstream({ name: 'app' })
    const [p, readiness, a] = await freePorts(3)
    const deadPort = await freePort()
    port = p!
    admin = `http://127.0.0.1:${a!}`
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness!,
          adminPort: a!,
          extraSpec: [
            `  accessLog: {path: ${JSON.stringify(logPath)}, format: "${LOG_FORMAT}"}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
            `  egress: {httpPorts: [${port}]}`,
          ],
        }),
        routes(port, up, deadPort),
      ),
    })
  })
  after(async () => {
    await gw?.cleanup()
    await up?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  for (const row of ROWS) {
    test(`${row.kind}: ${row.host}${row.path} → ${row.status} ${row.flags}`, async () => {
      const undo = row.setup === undefined ? undefined : await row.setup({ port, admin })
      const q = new URLSearchParams({
        url: `http://${row.host}:${port}${row.path}`,
        format: 'json',
      })
      const res = await request(`${admin}/describe?${q.toString()}`)
      assert.equal(res.status, 200, res.text)
      const d = res.json<Description>()

      const id = `describe-${row.kind.replace(/\W/g, '-')}`
      const got = await request(`http://127.0.0.1:${port}${row.path}`, {
        headers: { host: row.host, 'x-request-id': id },
      })
      const [status = '', flags = '', upstreamHost = ''] = await accessLogLine(logPath, id)
      assert.equal(got.status, row.status, got.text)
      assert.equal(status, String(row.status))
      assert.ok(flags.split(',').includes(row.flags), `flags ${flags}`)

      if (d.outcome.status === 'forward') {
        // Forwarded (UF included): describe named the endpoint the data plane tried.
        assert.ok(row.status === 200 || row.flags === 'UF', `${d.summary} but got ${row.status}`)
        const endpoints = d.destinations.flatMap((x) => x.endpoints ?? [])
        assert.ok(endpoints.includes(upstreamHost), `${endpoints.join(',')} vs ${upstreamHost}`)
      } else {
        assert.equal(d.outcome.status, row.status, d.summary)
        assert.equal(d.outcome.flag ?? '-', row.flags, d.summary)
      }
      await undo?.()
    })
  }
})

/** The fields after the request id of the access-log line for `id`, waited for. */
async function accessLogLine(path: string, id: string): Promise<string[]> {
  const until = Date.now() + 10_000
  while (Date.now() < until) {
    if (existsSync(path)) {
      const line = readFileSync(path, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${id} `))
      if (line !== undefined) return line.split(' ').slice(1)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`no access-log line for ${id} in ${path}`)
}
