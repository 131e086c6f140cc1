import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import { silentLogger } from '../lib/index.js'
import {
  createRuntimeView,
  createSnapshotStore,
  type ReloadOutcome,
  type SnapshotStore,
} from '../runtime/index.js'
import { createAdminApi } from './api.js'

const WARNING: Diagnostic = {
  code: 'PC2002',
  severity: 'warning',
  message: 'destination host has no ServiceEntry',
  loc: { file: 'gateway.yaml', line: 12, col: 9 },
}
const ERROR: Diagnostic = {
  code: 'PC1002',
  severity: 'error',
  message: 'Unexpected flow-seq-end',
  loc: { file: 'gateway.yaml', line: 3, col: 11 },
}

function snapshot(hash: string): ir.Snapshot {
  return {
    hash,
    settings: { bindAddress: '127.0.0.1', drainTimeoutMs: 1000 } as ir.GatewaySettings,
    listeners: [],
    clusters: {},
  }
}

function outcome(store: SnapshotStore, partial: Partial<ReloadOutcome>): ReloadOutcome {
  return {
    result: 'applied',
    trigger: 'admin',
    version: store.view.active?.version ?? 0,
    hash: store.view.active?.snapshot.hash,
    diagnostics: [],
    at: Date.UTC(2025, 0, 2, 3, 4, 5),
    durationMs: 7,
    ...partial,
  }
}

function setup(t: { after(fn: () => Promise<void>): void }) {
  const store = createSnapshotStore()
  const dataPlane = { ready: true, stats: () => ({ listeners: 2, connections: 5, inflight: 1 }) }
  let next: () => ReloadOutcome = () => outcome(store, { result: 'unchanged' })
  const runtime = createRuntimeView({
    snapshots: store.view,
    dataPlane,
    reloader: {
      reload: () => {
        const o = next()
        store.record(o)
        return Promise.resolve(o)
      },
    },
  })
  const app = createAdminApi(runtime, silentLogger)
  t.after(() => app.close())
  const activate = (hash: string): void => {
    store.swap(snapshot(hash), {
      sourceHash: 'src',
      files: ['gateway.yaml'],
      at: Date.UTC(2025, 0, 2, 3, 4, 5),
    })
    store.record(outcome(store, { trigger: 'startup', diagnostics: [WARNING] }))
  }
  return { store, app, activate, setNext: (fn: () => ReloadOutcome) => (next = fn) }
}

describe('admin API', () => {
  test('GET /config_dump answers 503 before the first snapshot and the snapshot after', async (t) => {
    const s = setup(t)
    const before = await s.app.inject({ method: 'GET', url: '/config_dump' })
    assert.equal(before.statusCode, 503)

    s.activate('abc123')
    const res = await s.app.inject({ method: 'GET', url: '/config_dump' })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), {
      version: 1,
      hash: 'abc123',
      loadedAt: '2025-01-02T03:04:05.000Z',
      files: ['gateway.yaml'],
      snapshot: JSON.parse(JSON.stringify(snapshot('abc123'))) as unknown,
    })
  })

  test('GET /diagnostics returns the last load attempt', async (t) => {
    const s = setup(t)
    s.activate('abc123')
    const res = await s.app.inject({ method: 'GET', url: '/diagnostics' })
    assert.equal(res.statusCode, 200)
    const body = res.json<Record<string, unknown>>()
    assert.equal(body['version'], 1)
    assert.equal(body['errors'], 0)
    assert.equal(body['warnings'], 1)
    assert.deepEqual(body['diagnostics'], [WARNING])
    assert.equal((body['lastReload'] as Record<string, unknown>)['trigger'], 'startup')
  })

  test('POST /reload: 200 with the outcome when applied', async (t) => {
    const s = setup(t)
    s.activate('abc123')
    s.setNext(() => {
      s.store.swap(snapshot('def456'), { sourceHash: 'src2', files: [], at: 0 })
      return outcome(s.store, {})
    })
    const res = await s.app.inject({ method: 'POST', url: '/reload' })
    assert.equal(res.statusCode, 200)
    const body = res.json<Record<string, unknown>>()
    assert.equal(body['result'], 'applied')
    assert.equal(body['version'], 2)
    assert.equal(body['hash'], 'def456')
  })

  test('POST /reload: 422 with diagnostics when rejected; /diagnostics then shows them', async (t) => {
    const s = setup(t)
    s.activate('abc123')
    s.setNext(() => outcome(s.store, { result: 'rejected', diagnostics: [ERROR] }))
    const res = await s.app.inject({ method: 'POST', url: '/reload' })
    assert.equal(res.statusCode, 422)
    const body = res.json<Record<string, unknown>>()
    assert.equal(body['result'], 'rejected')
    assert.equal(body['version'], 1)
    assert.deepEqual(body['diagnostics'], [ERROR])

    const diags = (await s.app.inject({ method: 'GET', url: '/diagnostics' })).json<
      Record<string, unknown>
    >()
    assert.equal(diags['errors'], 1)
    assert.equal(diags['reloadFailures'], 1)
  })

  test('POST /reload: 503 once draining', async (t) => {
    const s = setup(t)
    s.activate('abc123')
    s.store.markDraining()
    s.setNext(() => outcome(s.store, { result: 'rejected', error: 'the gateway is shutting down' }))
    const res = await s.app.inject({ method: 'POST', url: '/reload' })
    assert.equal(res.statusCode, 503)
  })

  test('GET /ready follows readiness', async (t) => {
    const s = setup(t)
    const before = await s.app.inject({ method: 'GET', url: '/ready' })
    assert.equal(before.statusCode, 503)
    assert.equal(before.body, 'not ready')
    s.activate('abc123')
    const ready = await s.app.inject({ method: 'GET', url: '/ready' })
    assert.equal(ready.statusCode, 200)
    assert.equal(ready.body, 'ready')
    s.store.markDraining()
    const draining = await s.app.inject({ method: 'GET', url: '/ready' })
    assert.equal(draining.statusCode, 503)
    assert.equal(draining.body, 'draining')
  })

  test('GET /stats returns the data-plane counters', async (t) => {
    const s = setup(t)
    const res = await s.app.inject({ method: 'GET', url: '/stats' })
    assert.deepEqual(res.json(), { listeners: 2, connections: 5, inflight: 1 })
  })

  test('unknown paths and methods are 404', async (t) => {
    const s = setup(t)
    assert.equal((await s.app.inject({ method: 'GET', url: '/nope' })).statusCode, 404)
    assert.equal((await s.app.inject({ method: 'GET', url: '/reload' })).statusCode, 404)
  })
})
