// `workers: 2` through the real process: both workers serve every listener, a RateLimitPolicy
// counts once across them without Redis (the primary keeps the limits), SIGHUP reloads every
// worker (a rejected config is reported once, by the primary), and SIGTERM drains in-flight
// requests before the primary exits 0.
//
// Which worker answered is read from the kernel, not from the gateway: each request reaches the
// test's upstream on some source port, and /proc says which worker process owns that socket.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer, get, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const LIMIT = 20
const PERIOD_MS = 60_000
const T_MS = PERIOD_MS / LIMIT

function configFor(p: { http: number[]; readiness: number; upstream: number; v2?: boolean }) {
  const v2 =
    p.v2 === true
      ? `  - {name: v2, match: [{uri: {prefix: /v2}}], directResponse: {status: 201}}\n`
      : ''
  return `${gatewayConfigDoc({
    readinessPort: p.readiness,
    accessLog: false,
    drainTimeout: '10s',
    extraSpec: ['  workers: 2'],
  })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  servers:
${p.http.map((port, i) => `  - {port: {number: ${port}, name: http-${i}, protocol: HTTP}, hosts: ['*']}`).join('\n')}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: ['*']
  gateways: [web]
  http:
${v2}  - name: limited
    match: [{uri: {prefix: /limited}}]
    route: [{destination: {host: up.test, port: {number: 80}}}]
  - name: all
    route: [{destination: {host: up.test, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: up, namespace: default}
spec:
  hosts: [up.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${p.upstream}}}]
---
apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: api, namespace: default}
spec:
  targetRefs: [{kind: VirtualService, name: app, sectionName: limited}]
  rules:
  - by: ['header:x-run']
    limit: {requests: ${LIMIT}, unit: minute}
`
}

/** One request on a new connection, so the cluster hands it to the next worker. */
function fresh(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
  })
}

/**
 * Local TCP port → inodes of the sockets open to `remotePort`, from /proc/net/tcp{,6}. A port can
 * show up in several rows (a TIME_WAIT row from an earlier connection has inode 0, and the same
 * source port may be in use towards another destination), so every live row is kept.
 */
function inodesByLocalPort(remotePort: number): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      const local = cols[1]
      const remote = cols[2]
      const inode = cols[9]
      if (local === undefined || remote === undefined || inode === undefined || inode === '0')
        continue
      if (parseInt(remote.split(':')[1] ?? '0', 16) !== remotePort) continue
      const port = parseInt(local.split(':')[1] ?? '0', 16)
      const set = out.get(port) ?? new Set<string>()
      set.add(inode)
      out.set(port, set)
    }
  }
  return out
}

/** Socket inodes a process holds open. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m?.[1] !== undefined) out.add(m[1])
    } catch {
      // closed while listing
    }
  }
  return out
}

/** Which worker pid owns each upstream-facing source port. */
function ownersOf(
  ports: readonly number[],
  pids: readonly number[],
  upstreamPort: number,
): Map<number, number> {
  const inodes = inodesByLocalPort(upstreamPort)
  const held = pids.map((pid) => ({ pid, inodes: socketInodes(pid) }))
  const owners = new Map<number, number>()
  for (const port of ports) {
    const live = [...(inodes.get(port) ?? [])]
    const owner = held.find((h) => live.some((inode) => h.inodes.has(inode)))
    if (owner !== undefined) owners.set(port, owner.pid)
  }
  return owners
}

describe('workers: 2 without Redis', () => {
  let gw: GatewayProcess
  let upstream: Server
  let upstreamPort: number
  let workerPids: number[] = []
  const seenPorts: number[] = []
  let httpPorts: number[] = []
  let readinessPort: number
  let releaseSlow: (() => void) | undefined

  before(async () => {
    upstream = createServer((req, res) => {
      seenPorts.push(req.socket.remotePort ?? 0)
      if (req.url === '/slow') {
        releaseSlow = () => res.end('slow done')
        return
      }
      res.end('ok')
    })
    upstream.keepAliveTimeout = 60_000
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
    upstreamPort = (upstream.address() as AddressInfo).port
    const ports = await freePorts(3)
    httpPorts = [ports[0]!, ports[1]!]
    readinessPort = ports[2]!
    gw = await startGateway({
      yaml: configFor({ http: httpPorts, readiness: readinessPort, upstream: upstreamPort }),
    })
    const started = await gw.waitForLine(/portcullis started.*workers/)
    workerPids = JSON.parse(/pids=(\[[\d,]+\])/.exec(started)?.[1] ?? '[]') as number[]
    assert.equal(workerPids.length, 2, started)
  })
  after(async () => {
    releaseSlow?.()
    await gw?.cleanup()
    upstream?.closeAllConnections()
    await new Promise((r) => upstream?.close(r))
  })

  test('every listener is served, and by both workers', async () => {
    for (const port of httpPorts) {
      seenPorts.length = 0
      // The primary hands each new connection to a worker that is free to take it, so on a busy
      // machine one worker can take several in a row: ask until both served (bounded).
      let owners = ownersOf(seenPorts, workerPids, upstreamPort)
      for (let i = 0; i < 200 && (i < 8 || new Set(owners.values()).size < 2); i++) {
        const res = await fresh(`http://127.0.0.1:${port}/hello`)
        assert.equal(res.status, 200)
        assert.equal(res.body, 'ok')
        if (i >= 7) owners = ownersOf(seenPorts, workerPids, upstreamPort)
      }
      assert.deepEqual(
        new Set(owners.values()),
        new Set(workerPids),
        `listener ${port}: upstream connections by pid ${JSON.stringify([...owners])}`,
      )
    }
  })

  test(`${LIMIT}/minute across both workers admits exactly the GCRA bound`, async () => {
    for (let run = 0; run < 3; run++) {
      const startedAt = performance.now()
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          fresh(`http://127.0.0.1:${httpPorts[i % 2]}/limited`, { 'x-run': `run-${run}` }),
        ),
      )
      const windowMs = performance.now() - startedAt
      const admitted = results.filter((r) => r.status === 200).length
      const limited = results.filter((r) => r.status === 429).length
      assert.equal(admitted + limited, 60)
      const bound = LIMIT + Math.floor(windowMs / T_MS)
      // The burst is L; more only if the run took longer than T (a slow machine).
      assert.ok(
        admitted >= LIMIT && admitted <= bound,
        `run ${run}: ${admitted} admitted, bound ${bound}`,
      )
      if (windowMs < T_MS) assert.equal(admitted, LIMIT)
    }
  })

  test('SIGHUP reloads every worker; a rejected config is reported once by the primary', async () => {
    assert.equal((await fresh(`http://127.0.0.1:${httpPorts[0]}/v2`)).status, 200)
    let mark = gw.mark()
    await gw.writeConfig('apiVersion: networking.istio.io/v1\nkind: Gateway\nspec: [\n')
    gw.reload()
    await gw.waitForLine(/config rejected; workers keep serving/, 10_000, { since: mark })
    await new Promise((r) => setTimeout(r, 300))
    // Once per trigger (the signal, and the file watcher the harness turns on), never per worker.
    const rejected = gw.output.slice(mark).filter((l) => /config rejected/.test(l.line))
    assert.ok(rejected.length >= 1 && rejected.length <= 2, rejected.map((l) => l.line).join('\n'))
    assert.ok(
      rejected.every((l) => !/worker=/.test(l.line)),
      'no worker reports the rejection',
    )

    mark = gw.mark()
    await gw.writeConfig(
      configFor({ http: httpPorts, readiness: readinessPort, upstream: upstreamPort, v2: true }),
    )
    gw.reload()
    await gw.waitForLine(/config applied.*worker=1|worker=1.*config applied/, 10_000, {
      since: mark,
    })
    await gw.waitForLine(/config applied.*worker=2|worker=2.*config applied/, 10_000, {
      since: mark,
    })
    for (let i = 0; i < 10; i++) {
      assert.equal((await fresh(`http://127.0.0.1:${httpPorts[i % 2]}/v2`)).status, 201)
    }
  })

  test('a worker that dies is restarted (logged) and readiness comes back', async () => {
    const mark = gw.mark()
    process.kill(workerPids[0]!, 'SIGKILL')
    const line = await gw.waitForLine(/worker exited; restarting/, 10_000, { since: mark })
    assert.match(line, /restartInMs=\d+/)
    let ready = 0
    for (let i = 0; i < 200 && ready !== 200; i++) {
      await new Promise((r) => setTimeout(r, 25))
      ready = (await fresh(`http://127.0.0.1:${readinessPort}/healthz/ready`)).status
    }
    assert.equal(ready, 200)
    for (let i = 0; i < 6; i++) {
      assert.equal((await fresh(`http://127.0.0.1:${httpPorts[i % 2]}/hello`)).status, 200)
    }
    const started = /pid=(\d+)/.exec(
      gw.output.slice(mark).find((l) => /worker exited/.test(l.line))?.line ?? '',
    )
    assert.equal(Number(started?.[1]), workerPids[0])
    workerPids = workerPids.slice(1)
  })

  test('SIGTERM: readiness 503, in-flight requests finish, the primary exits 0', async () => {
    assert.equal((await fresh(`http://127.0.0.1:${readinessPort}/healthz/ready`)).status, 200)
    seenPorts.length = 0
    const slow = fresh(`http://127.0.0.1:${httpPorts[0]}/slow`)
    for (let i = 0; i < 100 && releaseSlow === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(releaseSlow !== undefined, 'the slow request reached the upstream')
    const stopping = gw.stop('SIGTERM', 20_000)
    let readiness = 200
    for (let i = 0; i < 100 && readiness === 200; i++) {
      readiness = (await fresh(`http://127.0.0.1:${readinessPort}/healthz/ready`)).status
    }
    assert.equal(readiness, 503)
    releaseSlow()
    const res = await slow
    assert.equal(res.status, 200)
    assert.equal(res.body, 'slow done')
    assert.equal(await stopping, 0)
    for (const pid of workerPids) {
      assert.throws(() => process.kill(pid, 0), 'worker process is gone')
    }
  })
})
