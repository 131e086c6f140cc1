import { test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../ir/index.js'
import { createRuntimeView } from './runtime-view.js'
import { createSnapshotStore, type ReloadOutcome } from './snapshot-store.js'

test('ready only with an active snapshot, a ready data plane and no drain', () => {
  const store = createSnapshotStore()
  const dataPlane = {
    ready: false,
    stats: () => ({ listeners: 1, connections: 2, inflight: 3 }),
  }
  const view = createRuntimeView({
    snapshots: store.view,
    dataPlane,
    reloader: { reload: () => Promise.resolve({} as ReloadOutcome) },
  })
  assert.equal(view.isReady(), false, 'nothing loaded')
  store.swap({ hash: 'h' } as ir.Snapshot, { sourceHash: 's', files: [], at: 1 })
  assert.equal(view.isReady(), false, 'listeners not bound')
  dataPlane.ready = true
  assert.equal(view.isReady(), true)
  store.markDraining()
  assert.equal(view.isReady(), false, 'draining')
  assert.deepEqual(view.stats(), { listeners: 1, connections: 2, inflight: 3 })
})
