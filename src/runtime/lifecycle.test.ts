import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type * as ir from '../ir/index.js'
import { silentLogger } from '../lib/index.js'
import { createLifecycle, DEFAULT_DRAIN_TIMEOUT_MS } from './lifecycle.js'
import type { ReloadOutcome, ReloadTrigger } from './snapshot-store.js'
import { createSnapshotStore } from './snapshot-store.js'

function snapshot(drainTimeoutMs: number): ir.Snapshot {
  return {
    hash: 'h1',
    settings: { drainTimeoutMs } as ir.GatewaySettings,
    listeners: [],
    clusters: {},
  }
}

function setup(opts: { drainTimeoutMs?: number; failDrain?: boolean } = {}) {
  const events: string[] = []
  const signals = new EventEmitter()
  const store = createSnapshotStore()
  if (opts.drainTimeoutMs !== undefined) {
    store.swap(snapshot(opts.drainTimeoutMs), { sourceHash: 's', files: [], at: 0 })
  }
  let releaseDrain!: () => void
  const drainGate = new Promise<void>((r) => (releaseDrain = r))
  const exits: number[] = []
  let exited!: () => void
  const firstExit = new Promise<void>((r) => (exited = r))
  const lifecycle = createLifecycle({
    store,
    reloader: {
      reload(trigger: ReloadTrigger) {
        events.push(`reload ${trigger}`)
        return Promise.resolve({ result: 'unchanged' } as ReloadOutcome)
      },
      close() {
        events.push('reloader closed')
        return Promise.resolve()
      },
    },
    dataPlane: {
      async drain(timeoutMs) {
        events.push(`drain ${timeoutMs} ready=${String(!store.view.isDraining)}`)
        await drainGate
        if (opts.failDrain === true) throw new Error('drain broke')
        return { forcedConnections: 0 }
      },
    },
    observers: {
      flush: () => void events.push('flush'),
      close: () => void events.push('observers closed'),
      reopenLogs: () => void events.push('reopen'),
    },
    triggers: [{ close: () => void events.push('watcher closed') }],
    servers: [{ close: () => Promise.resolve(void events.push('admin closed')) }],
    logger: silentLogger,
    exit: (code) => {
      events.push(`exit ${code}`)
      exits.push(code)
      exited()
    },
    signals,
  })
  lifecycle.install()
  return { events, signals, store, lifecycle, exits, firstExit, releaseDrain }
}

describe('lifecycle', () => {
  test('SIGHUP reloads and SIGUSR1 reopens logs', async () => {
    const s = setup({ drainTimeoutMs: 1000 })
    s.signals.emit('SIGHUP')
    s.signals.emit('SIGUSR1')
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(s.events, ['reload signal', 'reopen'])
    s.lifecycle.uninstall()
  })

  test('SIGTERM: readiness drops at once, then drain, flush, close, exit 0', async () => {
    const s = setup({ drainTimeoutMs: 1234 })
    s.signals.emit('SIGTERM')
    assert.equal(s.store.view.isDraining, true, 'readiness goes 503 before anything is awaited')
    // Reloads are no longer triggered by SIGHUP once the drain began.
    s.signals.emit('SIGHUP')
    s.releaseDrain()
    await s.firstExit
    assert.deepEqual(s.events, [
      'watcher closed',
      'reloader closed',
      'drain 1234 ready=false',
      'flush',
      'observers closed',
      'admin closed',
      'exit 0',
    ])
    s.lifecycle.uninstall()
  })

  test('a second SIGINT during the drain exits 1 immediately', async () => {
    const s = setup({ drainTimeoutMs: 60_000 })
    s.signals.emit('SIGINT')
    await new Promise((r) => setImmediate(r))
    s.signals.emit('SIGINT')
    assert.deepEqual(s.exits, [1])
    s.releaseDrain()
    s.lifecycle.uninstall()
  })

  test('a failed drain still closes everything and exits 1', async () => {
    const s = setup({ drainTimeoutMs: 10, failDrain: true })
    void s.lifecycle.shutdown('test')
    s.releaseDrain()
    await s.firstExit
    assert.ok(s.events.includes('admin closed'))
    assert.deepEqual(s.exits, [1])
    s.lifecycle.uninstall()
  })

  test('without an active snapshot the default drain timeout applies', async () => {
    const s = setup()
    s.releaseDrain()
    await s.lifecycle.shutdown('test')
    assert.ok(s.events.includes(`drain ${DEFAULT_DRAIN_TIMEOUT_MS} ready=false`))
    s.lifecycle.uninstall()
  })

  test('uninstall removes every signal handler', () => {
    const s = setup({ drainTimeoutMs: 10 })
    s.lifecycle.uninstall()
    for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGTERM', 'SIGINT']) {
      assert.equal(s.signals.listenerCount(sig), 0)
    }
  })
})
