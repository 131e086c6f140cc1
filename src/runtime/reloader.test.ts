import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ResourceSet } from '../config/index.js'
import type { Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import { canonicalJson, createLogger, sha256Hex } from '../lib/index.js'
import { buildSnapshot } from './build.js'
import type { DataPlanePort, PreparedChange } from './data-plane-port.js'
import { createReloader, type ReloadParticipant } from './reloader.js'
import { createSnapshotStore } from './snapshot-store.js'

const SETTINGS = { drainTimeoutMs: 1000 } as unknown as ir.GatewaySettings

/** Stands in for compile/: the snapshot hash follows the VirtualService specs; a VirtualService
 * named `conflict` is a compile error. */
function fakeCompile(resources: ResourceSet): {
  snapshot: ir.Snapshot
  diagnostics: Diagnostic[]
} {
  const diagnostics: Diagnostic[] = resources.virtualServices
    .filter((vs) => vs.metadata.name === 'conflict')
    .map((vs) => ({
      code: 'PC3003',
      severity: 'error',
      message: 'conflicting listeners on port 8080',
      loc: vs.origin.loc,
    }))
  const hash = sha256Hex(canonicalJson(resources.virtualServices.map((vs) => vs.spec)))
  return { snapshot: { hash, settings: SETTINGS, listeners: [], clusters: {} }, diagnostics }
}

function virtualService(name: string, body: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: ["web.example.com"]
  http:
    - directResponse:
        status: 200
        body: {string: ${body}}
`
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface FakeDataPlane extends Mutable<DataPlanePort> {
  prepared: ir.Snapshot[]
  activated: ir.Snapshot[]
  aborted: ir.Snapshot[]
  failPrepare: Error | undefined
  /** While set, prepare waits for it. */
  gate: Promise<void> | undefined
  concurrentPrepares: number
  maxConcurrentPrepares: number
}

function fakeDataPlane(): FakeDataPlane {
  const dp: FakeDataPlane = {
    prepared: [],
    activated: [],
    aborted: [],
    failPrepare: undefined,
    gate: undefined,
    concurrentPrepares: 0,
    maxConcurrentPrepares: 0,
    current: undefined,
    ready: false,
    async prepare(snapshot) {
      dp.concurrentPrepares += 1
      dp.maxConcurrentPrepares = Math.max(dp.maxConcurrentPrepares, dp.concurrentPrepares)
      try {
        if (dp.gate !== undefined) await dp.gate
        if (dp.failPrepare !== undefined) throw dp.failPrepare
        dp.prepared.push(snapshot)
        return { snapshot }
      } finally {
        dp.concurrentPrepares -= 1
      }
    },
    activate(change: PreparedChange) {
      dp.activated.push(change.snapshot)
      dp.current = change.snapshot
      dp.ready = true
    },
    abort(change: PreparedChange) {
      dp.aborted.push(change.snapshot)
      return Promise.resolve()
    },
    drain: () => Promise.resolve({ forcedConnections: 0 }),
    stats: () => ({ listeners: 0, connections: 0, inflight: 0 }),
    clusters: () => [],
  }
  return dp
}

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-reloader-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, virtualService('web', 'one'))
  const dataPlane = fakeDataPlane()
  const store = createSnapshotStore()
  const logLines: string[] = []
  const observed: string[] = []
  let builds = 0
  const reloader = createReloader({
    paths: [file],
    build: (paths) => {
      builds += 1
      return buildSnapshot(paths, fakeCompile)
    },
    dataPlane,
    store,
    logger: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
    observer: { onReload: (result, version) => observed.push(`${result}@${version}`) },
  })
  return {
    file,
    dataPlane,
    store,
    reloader,
    logLines,
    observed,
    builds: () => builds,
    write: (text: string) => writeFileSync(file, text),
  }
}

describe('reloader', () => {
  test('applies the first config and a changed one, counting versions', async (t) => {
    const s = setup(t)
    const first = await s.reloader.reload('startup')
    assert.equal(first.result, 'applied')
    assert.equal(first.version, 1)
    assert.equal(s.store.view.active?.version, 1)
    assert.equal(s.dataPlane.current, s.store.view.active?.snapshot)

    s.write(virtualService('web', 'two'))
    const second = await s.reloader.reload('file')
    assert.equal(second.result, 'applied')
    assert.equal(second.version, 2)
    assert.notEqual(second.hash, first.hash)
    assert.equal(s.dataPlane.current?.hash, second.hash)
    assert.deepEqual(s.observed, ['applied@1', 'applied@2'])
    assert.equal(s.store.view.failures, 0)
  })

  test('rejects a YAML syntax error, logs it with file:line and keeps the old snapshot', async (t) => {
    const s = setup(t)
    const first = await s.reloader.reload('startup')
    s.write('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: [oops\n')
    const outcome = await s.reloader.reload('signal')
    assert.equal(outcome.result, 'rejected')
    assert.equal(outcome.version, 1)
    assert.equal(outcome.hash, first.hash)
    assert.ok(outcome.diagnostics.some((d) => d.code === 'PC1002' && d.loc !== undefined))
    assert.equal(s.store.view.active?.snapshot.hash, first.hash)
    assert.equal(s.dataPlane.current?.hash, first.hash)
    assert.equal(s.dataPlane.prepared.length, 1, 'nothing was prepared for the bad config')
    assert.equal(s.store.view.failures, 1)
    assert.deepEqual(s.store.view.lastDiagnostics, outcome.diagnostics)
    assert.deepEqual(s.observed, ['applied@1', 'rejected@1'])
    assert.ok(
      s.logLines.some((l) => /ERROR .*gateway\.yaml:\d+:\d+ error PC1002/.test(l)),
      s.logLines.join(''),
    )
    assert.ok(s.logLines.some((l) => l.includes('config rejected; still serving version 1')))
  })

  test('rejects a config with compile errors', async (t) => {
    const s = setup(t)
    await s.reloader.reload('startup')
    s.write(virtualService('conflict', 'two'))
    const outcome = await s.reloader.reload('admin')
    assert.equal(outcome.result, 'rejected')
    assert.deepEqual(
      outcome.diagnostics.map((d) => d.code),
      ['PC3003'],
    )
    assert.equal(s.dataPlane.prepared.length, 1)
    assert.equal(s.store.view.active?.version, 1)
  })

  test('the first load failing leaves nothing active (version 0)', async (t) => {
    const s = setup(t)
    s.write(virtualService('conflict', 'one'))
    const outcome = await s.reloader.reload('startup')
    assert.equal(outcome.result, 'rejected')
    assert.equal(outcome.version, 0)
    assert.equal(s.store.view.active, undefined)
    assert.ok(s.logLines.some((l) => / config rejected /.test(l)))
  })

  test('identical content is a no-op', async (t) => {
    const s = setup(t)
    await s.reloader.reload('startup')
    s.write(virtualService('web', 'one'))
    const outcome = await s.reloader.reload('file')
    assert.equal(outcome.result, 'unchanged')
    assert.equal(outcome.version, 1)
    assert.equal(s.dataPlane.prepared.length, 1)
    assert.deepEqual(s.observed, ['applied@1', 'unchanged@1'])
    assert.notEqual(s.store.view.lastSuccessAt, undefined)
  })

  test('a data plane that cannot prepare rejects the reload and the old snapshot serves', async (t) => {
    const s = setup(t)
    const first = await s.reloader.reload('startup')
    s.write(virtualService('web', 'two'))
    s.dataPlane.failPrepare = new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080')
    const outcome = await s.reloader.reload('signal')
    assert.equal(outcome.result, 'rejected')
    assert.match(outcome.error ?? '', /EADDRINUSE/)
    assert.equal(s.dataPlane.current?.hash, first.hash)
    assert.equal(s.store.view.active?.snapshot.hash, first.hash)
    assert.equal(s.dataPlane.activated.length, 1)

    // Once the port is free the same config applies.
    s.dataPlane.failPrepare = undefined
    const retry = await s.reloader.reload('signal')
    assert.equal(retry.result, 'applied')
    assert.equal(retry.version, 2)
  })

  test('a participant that fails releases the prepared data plane and rejects', async (t) => {
    const s = setup(t)
    await s.reloader.reload('startup')
    const events: string[] = []
    const ok: ReloadParticipant = {
      name: 'ok',
      prepare: () =>
        Promise.resolve({
          commit: () => events.push('ok commit'),
          abort: () => {
            events.push('ok abort')
            return Promise.resolve()
          },
        }),
    }
    const failing: ReloadParticipant = {
      name: 'failing',
      prepare: () => Promise.reject(new Error('admin port 15000 in use')),
    }
    s.reloader.register(ok)
    s.reloader.register(failing)
    s.write(virtualService('web', 'two'))
    const outcome = await s.reloader.reload('signal')
    assert.equal(outcome.result, 'rejected')
    assert.equal(outcome.error, 'admin port 15000 in use')
    assert.deepEqual(events, ['ok abort'])
    assert.equal(s.dataPlane.aborted.length, 1)
    assert.equal(s.dataPlane.activated.length, 1)
    assert.equal(s.store.view.active?.version, 1)
  })

  test('participants commit after the swap', async (t) => {
    const s = setup(t)
    const seen: number[] = []
    s.reloader.register({
      name: 'probe',
      prepare: () =>
        Promise.resolve({
          commit: () => seen.push(s.store.view.active?.version ?? 0),
          abort: () => Promise.resolve(),
        }),
    })
    await s.reloader.reload('startup')
    assert.deepEqual(seen, [1])
  })

  test('triggers during a reload fold into exactly one more', async (t) => {
    const s = setup(t)
    await s.reloader.reload('startup')
    let open!: () => void
    s.dataPlane.gate = new Promise((r) => (open = r))
    s.write(virtualService('web', 'two'))
    const running = s.reloader.reload('file')
    // Let the first attempt reach prepare.
    await new Promise((r) => setImmediate(r))
    s.write(virtualService('web', 'three'))
    const queued = [
      s.reloader.reload('file'),
      s.reloader.reload('signal'),
      s.reloader.reload('admin'),
    ]
    assert.equal(queued[0], queued[1])
    assert.equal(queued[1], queued[2])
    open()
    s.dataPlane.gate = undefined
    const [a, b] = await Promise.all([running, queued[0]])
    assert.equal(a.result, 'applied')
    assert.equal(a.version, 2)
    assert.equal(b?.result, 'applied')
    assert.equal(b?.version, 3)
    assert.equal(s.builds(), 3, 'startup + the running reload + one folded reload')
    assert.equal(s.dataPlane.maxConcurrentPrepares, 1)
  })

  test('apply uses a config built by the caller', async (t) => {
    const s = setup(t)
    const built = buildSnapshot([s.file], fakeCompile)
    const outcome = await s.reloader.apply(built, 'startup')
    assert.equal(outcome.result, 'applied')
    assert.equal(s.builds(), 0)
  })

  test('after close, reloads are refused without touching state', async (t) => {
    const s = setup(t)
    await s.reloader.reload('startup')
    await s.reloader.close()
    s.write(virtualService('web', 'two'))
    const outcome = await s.reloader.reload('signal')
    assert.equal(outcome.result, 'rejected')
    assert.match(outcome.error ?? '', /shutting down/)
    assert.equal(s.store.view.failures, 0)
    assert.equal(s.store.view.active?.version, 1)
  })
})
