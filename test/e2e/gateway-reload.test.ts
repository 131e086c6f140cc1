// Hot reload of the real gateway process (hardening.md §8): file changes and SIGHUP apply a new
// snapshot atomically; anything invalid is rejected while the old config keeps serving.
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { Agent } from 'undici'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  rawRequest,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, HttpResponse, Upstream } from './harness/index.js'

const POLL_TIMEOUT_MS = 10_000
const LOG_TIMEOUT_MS = 10_000

interface Ports {
  gateway: number
  readiness: number
  admin: number
  metrics: number
}

interface ConfigOptions {
  ports: Ports
  upstreamPort: number
  // The body of /variant and the x-variant response header of /proxy.
  variant: string
  // Serve /delay/* from the upstream (removed to test in-flight requests across a reload).
  withDelayRoute?: boolean
  // A second Gateway server (and so a second listener) on this port.
  extraPort?: number
}

function reloadConfig(o: ConfigOptions): string {
  const extraServer =
    o.extraPort === undefined
      ? ''
      : `    - port: {number: ${o.extraPort}, name: http-extra, protocol: HTTP}
      hosts: ['*']
`
  const delayRoute = o.withDelayRoute
    ? `    - name: delay
      match: [{uri: {prefix: /delay/}}]
      route:
        - destination: {host: echo.upstream.test}
`
    : ''
  return joinDocs(
    gatewayConfigDoc({
      readinessPort: o.ports.readiness,
      adminPort: o.ports.admin,
      metricsPort: o.ports.metrics,
      accessLog: false,
    }),
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  servers:
    - port: {number: ${o.ports.gateway}, name: http, protocol: HTTP}
      hosts: ['*']
${extraServer}`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: main
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - name: variant
      match: [{uri: {prefix: /variant}}]
      directResponse:
        status: 200
        body: {string: ${o.variant}}
${delayRoute}    - name: proxy
      match: [{uri: {prefix: /proxy}}]
      headers:
        response:
          set: {x-variant: ${o.variant}}
      route:
        - destination: {host: echo.upstream.test}
`,
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
spec:
  hosts: [echo.upstream.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - {number: 80, name: http, protocol: HTTP}
  endpoints:
    - address: 127.0.0.1
      ports: {http: ${o.upstreamPort}}
`,
  )
}

interface Setup {
  gw: GatewayProcess
  up: Upstream
  ports: Ports
  config(overrides: Partial<Omit<ConfigOptions, 'ports' | 'upstreamPort'>>): string
  get(path: string, port?: number): Promise<HttpResponse>
  version(): Promise<number>
  readiness(): Promise<number>
  metric(name: string, labels: string): Promise<number>
}

async function setUp(
  t: TestContext,
  first: Partial<Omit<ConfigOptions, 'ports' | 'upstreamPort'>> = {},
  extraArgs: string[] = [],
): Promise<Setup> {
  const [gateway, readiness, admin, metrics] = await freePorts(4)
  const ports: Ports = {
    gateway: gateway!,
    readiness: readiness!,
    admin: admin!,
    metrics: metrics!,
  }
  const up = await startUpstream({ name: 'echo' })
  t.after(() => up.close())
  const config: Setup['config'] = (overrides) =>
    reloadConfig({ ports, upstreamPort: up.port, variant: 'one', ...overrides })
  const gw = await startGateway({ yaml: config(first), extraArgs })
  t.after(() => gw.cleanup())
  const get = (path: string, port = ports.gateway): Promise<HttpResponse> =>
    request(`http://127.0.0.1:${port}${path}`, { timeoutMs: 5000 })
  return {
    gw,
    up,
    ports,
    config,
    get,
    async version() {
      const res = await request(`http://127.0.0.1:${ports.admin}/config_dump`)
      assert.equal(res.status, 200)
      return res.json<{ version: number }>().version
    },
    async readiness() {
      return (await request(`http://127.0.0.1:${ports.readiness}/healthz/ready`)).status
    },
    async metric(name, labels) {
      const text = (await request(`http://127.0.0.1:${ports.metrics}/stats/prometheus`)).text
      const row = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `))
      return row === undefined ? 0 : Number(row.slice(row.lastIndexOf(' ') + 1))
    },
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

// Polls until check() returns true; fails after timeoutMs with the last observed value.
async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = POLL_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await delay(50)
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`)
}

// A request whose connection is refused resolves to its error code instead of a status.
async function statusOrError(url: string): Promise<number | string> {
  const agent = new Agent({ pipelining: 0 })
  try {
    return (await request(url, { timeoutMs: 2000, dispatcher: agent })).status
  } catch (err) {
    const e = err as { code?: string; cause?: { code?: string } }
    return e.cause?.code ?? e.code ?? String(err)
  } finally {
    await agent.destroy()
  }
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy())
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

describe('gateway hot reload (real process)', () => {
  test('a rewritten file applies the new route and increments the version', async (t) => {
    const s = await setUp(t)
    assert.equal((await s.get('/variant')).text, 'one')
    const before = await s.version()
    const mark = s.gw.mark()
    await s.gw.writeConfig(s.config({ variant: 'two' }))
    await eventually('the new route answers', async () => (await s.get('/variant')).text === 'two')
    await s.gw.waitForLine(/config applied .*trigger=file/, LOG_TIMEOUT_MS, { since: mark })
    assert.equal(await s.version(), before + 1)
    const proxied = await s.get('/proxy/after')
    assert.equal(proxied.status, 200)
    assert.equal(proxied.headers['x-variant'], 'two')
  })

  describe('an invalid config is rejected and the old one keeps serving', () => {
    const cases: Array<{
      name: string
      // Breaks a valid config; `line` is the 1-based line the diagnostic must point at.
      breakIt(valid: string): { yaml: string; line?: number; column?: number }
      code: RegExp
      // Write gateway.yaml in place (truncate, then write), as `: > gateway.yaml` or an editor
      // does, instead of renaming a complete file over it: the watcher may see the empty file.
      isInPlace?: boolean
    }> = [
      {
        name: 'YAML syntax error',
        breakIt: (valid) => ({ yaml: valid.replace('hosts: [echo.upstream.test]', 'hosts: [') }),
        code: /PC1002/,
      },
      {
        name: 'schema error (port out of range)',
        breakIt: (valid) => {
          const yaml = valid.replace(/ports: \{http: \d+\}/, 'ports: {http: 99999}')
          return { yaml, ...positionOf(yaml, '99999') }
        },
        code: /PC1105/,
      },
      {
        name: 'unknown field',
        breakIt: (valid) => {
          const yaml = valid.replace('  resolution: STATIC\n', '  resolution: STATIC\n  bogus: 1\n')
          return { yaml, ...positionOf(yaml, 'bogus: 1') }
        },
        code: /PC1101/,
      },
      {
        name: 'empty file, truncated in place',
        breakIt: () => ({ yaml: '', line: 1, column: 1 }),
        code: /PC1009: .*gateway\.yaml has no documents/,
        isInPlace: true,
      },
      {
        name: 'only comments and document separators',
        breakIt: () => ({ yaml: '# under maintenance\n---\n---\n', line: 1, column: 1 }),
        code: /PC1009: .*gateway\.yaml has no documents/,
      },
      {
        name: 'no listener (the Gateway removed)',
        breakIt: (valid) => ({
          yaml: valid.replace(
            /apiVersion: networking.istio.io\/v1\nkind: Gateway\n[\s\S]*?---\n/,
            '',
          ),
          line: 1,
          column: 1,
        }),
        code: /PC1009 GatewayConfig default\/gateway: no listener/,
      },
    ]
    for (const c of cases) {
      test(c.name, async (t) => {
        const s = await setUp(t)
        const version = await s.version()
        const rejectedBefore = await s.metric(
          'portcullis_config_reloads_total',
          'result="rejected"',
        )
        const broken = c.breakIt(s.config({ variant: 'broken' }))
        const mark = s.gw.mark()
        if (c.isInPlace === true) await writeFile(s.gw.configPath, broken.yaml)
        else await s.gw.writeConfig(broken.yaml)
        const diag = await s.gw.waitForLine(/gateway\.yaml:\d+:\d+ error PC\d{4}/, LOG_TIMEOUT_MS, {
          since: mark,
        })
        assert.match(diag, c.code)
        if (broken.line !== undefined) {
          assert.match(diag, new RegExp(`gateway\\.yaml:${broken.line}:${broken.column} error`))
        }
        await s.gw.waitForLine(/config rejected; still serving version 1/, LOG_TIMEOUT_MS, {
          since: mark,
        })
        assert.equal((await s.get('/variant')).text, 'one')
        assert.equal((await s.get('/proxy/x')).headers['x-variant'], 'one')
        assert.equal(await s.version(), version)
        assert.equal(await s.readiness(), 200)
        assert.equal(
          await s.metric('portcullis_config_reloads_total', 'result="rejected"'),
          rejectedBefore + 1,
        )
        // And a valid config after the broken one is applied again.
        await s.gw.writeConfig(s.config({ variant: 'fixed' }))
        await eventually('the fixed config answers', async () => {
          return (await s.get('/variant')).text === 'fixed'
        })
        assert.equal(await s.version(), version + 1)
      })
    }
  })

  test('SIGHUP with unchanged content changes nothing', async (t) => {
    const s = await setUp(t)
    const version = await s.version()
    const unchangedBefore = await s.metric('portcullis_config_reloads_total', 'result="unchanged"')
    const mark = s.gw.mark()
    s.gw.reload()
    await s.gw.waitForLine(/config unchanged .*trigger=signal/, LOG_TIMEOUT_MS, { since: mark })
    assert.equal(await s.version(), version)
    assert.equal(
      await s.metric('portcullis_config_reloads_total', 'result="unchanged"'),
      unchangedBefore + 1,
    )
    assert.equal((await s.get('/variant')).text, 'one')
  })

  test('SIGHUP applies a changed file', async (t) => {
    // Without the watcher only the signal can pick the change up.
    const s = await setUp(t, {}, ['--no-watch'])
    const version = await s.version()
    await s.gw.writeConfig(s.config({ variant: 'hup' }))
    await delay(500)
    assert.equal((await s.get('/variant')).text, 'one')
    const mark = s.gw.mark()
    s.gw.reload()
    await s.gw.waitForLine(/config applied .*trigger=signal/, LOG_TIMEOUT_MS, { since: mark })
    assert.equal((await s.get('/variant')).text, 'hup')
    assert.equal(await s.version(), version + 1)
  })

  test('a request in flight finishes on the snapshot it started with', async (t) => {
    const s = await setUp(t, { withDelayRoute: true })
    const inFlight = s.get('/delay/1')
    await eventually('the upstream has the request', () => s.up.requests.length === 1, 5000)
    const mark = s.gw.mark()
    await s.gw.writeConfig(s.config({ variant: 'two', withDelayRoute: false }))
    await s.gw.waitForLine(/config applied/, LOG_TIMEOUT_MS, { since: mark })
    // The route is gone for new requests...
    assert.equal((await s.get('/delay/0')).status, 404)
    // ...but the one already in flight completes.
    const res = await inFlight
    assert.equal(res.status, 200)
    assert.equal(res.json<{ path: string }>().path, '/delay/1')
  })

  test('reload under load: 20 keep-alive clients, 10 rewrites, no failed request', async (t) => {
    const s = await setUp(t, { variant: 'alpha' })
    const clients = 20
    const minPerClient = 100
    const maxPerClient = 1000
    const agents = Array.from({ length: clients }, () => new Agent({ connections: 1 }))
    t.after(() => Promise.all(agents.map((a) => a.close())))
    const failures: string[] = []
    const seen = new Set<string>()
    let total = 0
    let isReloading = true

    const client = async (agent: Agent, id: number): Promise<void> => {
      for (let i = 0; i < maxPerClient && (isReloading || i < minPerClient); i++) {
        const isDirect = i % 2 === 0
        const path = isDirect ? `/variant/${id}/${i}` : `/proxy/${id}/${i}`
        try {
          const res = await request(`http://127.0.0.1:${s.ports.gateway}${path}`, {
            dispatcher: agent,
            timeoutMs: 10_000,
          })
          total++
          const variant = isDirect ? res.text : String(res.headers['x-variant'])
          if (res.status !== 200 || (variant !== 'alpha' && variant !== 'beta')) {
            failures.push(`${path}: ${res.status} ${variant}`)
          } else {
            seen.add(variant)
          }
        } catch (err) {
          failures.push(`${path}: ${(err as Error).message}`)
        }
      }
    }

    const reloader = async (): Promise<void> => {
      try {
        for (let n = 1; n <= 10; n++) {
          const mark = s.gw.mark()
          await s.gw.writeConfig(s.config({ variant: n % 2 === 1 ? 'beta' : 'alpha' }))
          await s.gw.waitForLine(/config applied/, LOG_TIMEOUT_MS, { since: mark })
        }
      } finally {
        isReloading = false
      }
    }

    const versionBefore = await s.version()
    await Promise.all([reloader(), ...agents.map((a, id) => client(a, id))])
    assert.deepEqual(failures.slice(0, 10), [])
    assert.ok(total >= clients * minPerClient, `only ${total} requests`)
    assert.deepEqual([...seen].sort(), ['alpha', 'beta'])
    assert.equal(await s.version(), versionBefore + 10)
    // Keep-alive connections survived the reloads: far fewer connections than requests.
    assert.ok(s.up.connections < total / 10, `${s.up.connections} upstream connections`)
  })

  test('a listener added by a reload answers; removed, it stops accepting', async (t) => {
    const s = await setUp(t)
    const extraPort = (await freePorts(1))[0]!
    const extraUrl = `http://127.0.0.1:${extraPort}/variant`
    assert.notEqual(await statusOrError(extraUrl), 200)

    let mark = s.gw.mark()
    await s.gw.writeConfig(s.config({ variant: 'two', extraPort }))
    await s.gw.waitForLine(/config applied/, LOG_TIMEOUT_MS, { since: mark })
    assert.equal(await statusOrError(extraUrl), 200)
    assert.equal((await s.get('/variant', extraPort)).text, 'two')
    assert.equal((await s.get('/variant')).text, 'two')

    mark = s.gw.mark()
    await s.gw.writeConfig(s.config({ variant: 'three' }))
    await s.gw.waitForLine(/config applied/, LOG_TIMEOUT_MS, { since: mark })
    await eventually(
      'the removed listener refuses connections',
      async () => (await statusOrError(extraUrl)) === 'ECONNREFUSED',
    )
    assert.equal((await s.get('/variant')).text, 'three')
  })

  test('a reload that needs a port already taken is rejected; the old config serves', async (t) => {
    const s = await setUp(t)
    const takenPort = (await freePorts(1))[0]!
    const blocker = await listenOn(takenPort)
    t.after(() => new Promise<void>((r) => blocker.close(() => r())))
    const version = await s.version()

    const mark = s.gw.mark()
    await s.gw.writeConfig(s.config({ variant: 'two', extraPort: takenPort }))
    const line = await s.gw.waitForLine(/config rejected/, LOG_TIMEOUT_MS, { since: mark })
    assert.match(line, new RegExp(`${takenPort}`))
    assert.match(line, /EADDRINUSE|in use/)
    assert.equal((await s.get('/variant')).text, 'one')
    assert.equal(await s.version(), version)
    assert.equal(await s.readiness(), 200)
    // The port still belongs to its owner: the gateway's half-prepared listener was released.
    const res = await rawRequest(takenPort, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', {
      timeoutMs: 2000,
    })
    assert.equal(res.text, '')
    assert.ok(res.isClosedByPeer)
  })
})

// 1-based line and column of the first occurrence of `needle` in `text`.
function positionOf(text: string, needle: string): { line: number; column: number } {
  const at = text.indexOf(needle)
  assert.ok(at >= 0, `${needle} not in the config`)
  const before = text.slice(0, at)
  const line = before.split('\n').length
  return { line, column: at - before.lastIndexOf('\n') }
}
