// Its own file, so that no other test of this process has loaded fastify first.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { request } from 'undici'
import { freePorts } from '../../test/e2e/harness/ports.js'
import type * as ir from '../ir/index.js'
import { silentLogger } from '../lib/index.js'
import { createRuntimeView, createSnapshotStore, type ReloadOutcome } from '../runtime/index.js'
import { startAdminServers } from './servers.js'

const moduleCache = createRequire(import.meta.url).cache
const fastifyLoaded = (): boolean =>
  Object.keys(moduleCache).some((f) => f.includes('/node_modules/fastify/'))

test('the admin port loads fastify with its first request, not when it starts listening', async (t) => {
  const [admin] = await freePorts(1)
  const settings = {
    bindAddress: '127.0.0.1',
    readiness: { address: '127.0.0.1', port: 0 },
    metrics: { address: '127.0.0.1', port: 0 },
    admin: { address: '127.0.0.1', port: admin! },
    drainTimeoutMs: 1000,
  } as ir.GatewaySettings
  const runtime = createRuntimeView({
    snapshots: createSnapshotStore().view,
    dataPlane: { ready: true, stats: () => ({ listeners: 0, connections: 0, inflight: 0 }) },
    reloader: { reload: () => Promise.resolve({} as ReloadOutcome) },
  })
  const metrics = { metricsText: () => Promise.resolve(''), metricsContentType: 'text/plain' }
  const servers = await startAdminServers(settings, { runtime, metrics, logger: silentLogger })
  t.after(() => servers.close())
  assert.equal(fastifyLoaded(), false, 'fastify loaded before any admin request')

  // Two requests at once: both wait for the one build and are answered by the app.
  const [a, b] = await Promise.all(
    [0, 1].map(() => request(`http://127.0.0.1:${admin}/`).then((r) => r.body.json())),
  )
  for (const body of [a, b]) {
    assert.ok((body as { endpoints: string[] }).endpoints.includes('GET /config_dump'))
  }
  assert.equal(fastifyLoaded(), true)
})
