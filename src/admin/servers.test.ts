import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import type * as ir from '../ir/index.js'
import { silentLogger } from '../lib/index.js'
import {
  createRuntimeView,
  createSnapshotStore,
  type ReloadOutcome,
  type RuntimeView,
} from '../runtime/index.js'
import { createMetricsServer, type MetricsSource } from './metrics-server.js'
import { closeServer, listen } from './node-server.js'
import { createReadinessServer } from './readiness-server.js'
import { startAdminServers } from './servers.js'

type After = { after(fn: () => Promise<void> | void): void }

function settings(ports: {
  readiness: number
  metrics: number
  admin: number
}): ir.GatewaySettings {
  return {
    bindAddress: '127.0.0.1',
    readiness: { address: '127.0.0.1', port: ports.readiness },
    metrics: { address: '127.0.0.1', port: ports.metrics },
    admin: { address: '127.0.0.1', port: ports.admin },
    drainTimeoutMs: 1000,
  } as ir.GatewaySettings
}

function snapshotWith(s: ir.GatewaySettings): ir.Snapshot {
  return { hash: JSON.stringify(s), settings: s, listeners: [], clusters: {} }
}

const METRICS: MetricsSource = {
  metricsText: () => Promise.resolve('istio_requests_total{response_code="200"} 3\n'),
  metricsContentType: 'text/plain; version=0.0.4; charset=utf-8',
}

function runtimeFixture(): { runtime: RuntimeView; activate(): void; drain(): void } {
  const store = createSnapshotStore()
  const runtime = createRuntimeView({
    snapshots: store.view,
    dataPlane: { ready: true, stats: () => ({ listeners: 0, connections: 0, inflight: 0 }) },
    reloader: { reload: () => Promise.resolve({} as ReloadOutcome) },
  })
  return {
    runtime,
    activate: () =>
      store.swap(snapshotWith(settings({ readiness: 0, metrics: 0, admin: 0 })), {
        sourceHash: 's',
        files: [],
        at: 0,
      }),
    drain: () => store.markDraining(),
  }
}

async function get(port: number, path: string, method: 'GET' | 'HEAD' | 'POST' = 'GET') {
  const res = await request(`http://127.0.0.1:${port}${path}`, { method })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

/** Resolves with the connect error code, or 'connected'. */
function connectResult(port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.once('connect', () => {
      c.destroy()
      resolve('connected')
    })
    c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })
}

async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer()
      servers.push(s)
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
    }
    return servers.map((s) => (s.address() as AddressInfo).port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  }
}

async function occupy(t: After, port: number): Promise<void> {
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r))
  t.after(() => new Promise<void>((r) => blocker.close(() => r())))
}

describe('readiness server', () => {
  test('503 before the first snapshot, 200 once active, 503 while draining', async (t) => {
    const fx = runtimeFixture()
    const server = createReadinessServer(fx.runtime)
    const { port } = await listen(server, 0, '127.0.0.1')
    t.after(() => closeServer(server, true))

    const before = await get(port, '/healthz/ready')
    assert.equal(before.status, 503)
    assert.equal(before.body, 'not ready')
    fx.activate()
    const ready = await get(port, '/healthz/ready')
    assert.equal(ready.status, 200)
    assert.equal(ready.body, 'ready')
    assert.equal(ready.headers['cache-control'], 'no-store')
    fx.drain()
    const draining = await get(port, '/healthz/ready')
    assert.equal(draining.status, 503)
    assert.equal(draining.body, 'draining')
  })

  test('other paths are 404 and other methods 405', async (t) => {
    const fx = runtimeFixture()
    const server = createReadinessServer(fx.runtime)
    const { port } = await listen(server, 0, '127.0.0.1')
    t.after(() => closeServer(server, true))
    assert.equal((await get(port, '/healthz/live')).status, 404)
    assert.equal((await get(port, '/healthz/ready', 'POST')).status, 405)
  })
})

describe('metrics server', () => {
  test('GET /stats/prometheus serves the metrics text with its content type', async (t) => {
    const server = createMetricsServer(METRICS, silentLogger)
    const { port } = await listen(server, 0, '127.0.0.1')
    t.after(() => closeServer(server, true))
    const res = await get(port, '/stats/prometheus')
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-type'], METRICS.metricsContentType)
    assert.equal(res.body, 'istio_requests_total{response_code="200"} 3\n')
    assert.equal((await get(port, '/metrics')).status, 404)
  })

  test('a failing metrics source answers 500', async (t) => {
    const failing: MetricsSource = {
      metricsText: () => Promise.reject(new Error('registry closed')),
      metricsContentType: 'text/plain',
    }
    const server = createMetricsServer(failing, silentLogger)
    const { port } = await listen(server, 0, '127.0.0.1')
    t.after(() => closeServer(server, true))
    assert.equal((await get(port, '/stats/prometheus')).status, 500)
  })
})

describe('admin servers', () => {
  test('start on the configured ports; port 0 disables a server', async (t) => {
    const [readiness, admin] = await freePorts(2)
    const fx = runtimeFixture()
    fx.activate()
    const servers = await startAdminServers(
      settings({ readiness: readiness!, metrics: 0, admin: admin! }),
      { runtime: fx.runtime, metrics: METRICS, logger: silentLogger },
    )
    t.after(() => servers.close())
    assert.deepEqual(servers.addresses(), {
      readiness: { address: '127.0.0.1', port: readiness },
      admin: { address: '127.0.0.1', port: admin },
    })
    assert.equal((await get(readiness!, '/healthz/ready')).status, 200)
    assert.equal((await get(admin!, '/ready')).status, 200)
    const dump = await get(admin!, '/config_dump')
    assert.equal(dump.status, 200)
  })

  test('a reload moves a server: new port bound at prepare, old one closed at commit', async (t) => {
    const [r1, r2, m1] = await freePorts(3)
    const fx = runtimeFixture()
    fx.activate()
    const servers = await startAdminServers(settings({ readiness: r1!, metrics: m1!, admin: 0 }), {
      runtime: fx.runtime,
      metrics: METRICS,
      logger: silentLogger,
    })
    t.after(() => servers.close())

    const step = await servers.prepare(
      snapshotWith(settings({ readiness: r2!, metrics: m1!, admin: 0 })),
      undefined,
    )
    // Both answer between prepare and commit.
    assert.equal((await get(r1!, '/healthz/ready')).status, 200)
    assert.equal((await get(r2!, '/healthz/ready')).status, 200)
    step.commit()
    assert.deepEqual(servers.addresses().readiness, { address: '127.0.0.1', port: r2 })
    // The old server closes in the background; it refuses connections soon after.
    const deadline = Date.now() + 3000
    let result = await connectResult(r1!)
    // A connection caught while the listener closes is reset, not served: keep polling.
    while ((result === 'connected' || result === 'ECONNRESET') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
      result = await connectResult(r1!)
    }
    assert.equal(result, 'ECONNREFUSED')
    // The unchanged metrics server kept running.
    assert.equal((await get(m1!, '/stats/prometheus')).status, 200)
  })

  test('a port that cannot be bound rejects prepare and releases what it bound', async (t) => {
    const [r1, r2, m1, m2] = await freePorts(4)
    const fx = runtimeFixture()
    const servers = await startAdminServers(settings({ readiness: r1!, metrics: m1!, admin: 0 }), {
      runtime: fx.runtime,
      metrics: METRICS,
      logger: silentLogger,
    })
    t.after(() => servers.close())
    await occupy(t, m2!)

    await assert.rejects(
      servers.prepare(
        snapshotWith(settings({ readiness: r2!, metrics: m2!, admin: 0 })),
        undefined,
      ),
      (e: Error) => e.message.includes(`metrics server cannot listen on 127.0.0.1:${m2}`),
    )
    assert.equal(
      await connectResult(r2!),
      'ECONNREFUSED',
      'the readiness port bound for it is released',
    )
    assert.equal(
      (await get(r1!, '/healthz/ready')).status,
      503,
      'the old readiness server still answers',
    )
    assert.deepEqual(servers.addresses().readiness, { address: '127.0.0.1', port: r1 })
  })

  test('abort releases the prepared servers and keeps the old ones', async (t) => {
    const [r1, r2] = await freePorts(2)
    const fx = runtimeFixture()
    const servers = await startAdminServers(settings({ readiness: r1!, metrics: 0, admin: 0 }), {
      runtime: fx.runtime,
      metrics: METRICS,
      logger: silentLogger,
    })
    t.after(() => servers.close())
    const step = await servers.prepare(
      snapshotWith(settings({ readiness: r2!, metrics: 0, admin: 0 })),
      undefined,
    )
    await step.abort()
    assert.equal(await connectResult(r2!), 'ECONNREFUSED')
    assert.equal(await connectResult(r1!), 'connected')
  })

  test('starting fails when a port is taken', async (t) => {
    const [r1, m1] = await freePorts(2)
    await occupy(t, m1!)
    const fx = runtimeFixture()
    await assert.rejects(
      startAdminServers(settings({ readiness: r1!, metrics: m1!, admin: 0 }), {
        runtime: fx.runtime,
        metrics: METRICS,
        logger: silentLogger,
      }),
      /metrics server cannot listen/,
    )
    assert.equal(await connectResult(r1!), 'ECONNREFUSED')
  })
})
