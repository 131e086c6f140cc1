import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { silentLogger } from '../../lib/index.js'
import type { RequestRecord } from '../../observe/events.js'
import { prepareSnapshot, releaseSnapshot } from './prepare-snapshot.js'
import type { PreparedSnapshot } from '../prepared.js'
import { createUpstreamRegistry } from '../upstream/registry.js'
import { createHttpHandler } from './handler.js'
import {
  LISTENER_ID,
  client,
  closeServer,
  cluster,
  destination,
  forward,
  listen,
  route,
  sleep,
  snapshot,
  startUpstream,
  vhost,
} from '../../../test/support/http-harness.js'

test('a reload that changes endpoints lets requests in flight on the old pool finish', async (t) => {
  let release: (() => void) | undefined
  const slow = await startUpstream(t, 'old', (_req, res) => {
    release = () => res.end('old answer')
  })
  const fresh = await startUpstream(t, 'new')
  const registry = createUpstreamRegistry({ log: silentLogger })
  t.after(() => registry.close())
  const records: RequestRecord[] = []
  const handler = createHttpHandler({
    observer: { onRequestComplete: (r) => records.push(r) },
    log: silentLogger,
    upstreams: registry,
  })
  const build = (port: number) => {
    const c = cluster('svc.example.com', [{ port }])
    return snapshot({
      virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
      clusters: [c],
    })
  }
  let current: PreparedSnapshot = prepareSnapshot(build(slow.port), registry)
  const server = createServer((req, res) => {
    handler(req, res, current, { id: LISTENER_ID, address: '0.0.0.0', port: 80, scheme: 'http' })
  })
  const port = await listen(server)
  t.after(() => closeServer(server))
  const http = client(t)

  const inFlight = http.get(`http://127.0.0.1:${port}/`)
  for (let i = 0; i < 300 && release === undefined; i++) await sleep(10)
  assert.ok(release, 'the first request reached the old endpoint')

  // Reload: prepare, swap, retire the old snapshot while its request is still running.
  const old = current
  current = prepareSnapshot(build(fresh.port), registry)
  releaseSnapshot(old, registry)
  assert.equal(registry.stats().clusters, 1)

  const next = await http.get(`http://127.0.0.1:${port}/`)
  assert.equal(next.headers['x-upstream'], 'new')
  await next.body.text()

  release()
  const res = await inFlight
  assert.equal(res.statusCode, 200)
  assert.equal(await res.body.text(), 'old answer')
  releaseSnapshot(current, registry)
})
