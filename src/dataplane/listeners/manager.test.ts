// Reload and drain semantics of the listener manager (hardening.md §8), over real sockets.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, test } from 'node:test'
import { ListenerBindError } from './bind-error.js'
import { assertStrictHttpParser } from './server-options.js'
import {
  eventually,
  exchange,
  fakePrepared,
  freePorts,
  isRefused,
  openRaw,
  startTestManager,
} from '../../../test/support/listener-kit.js'

const GET = (path = '/') => `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`

describe('listener manager: reload', () => {
  test('same port: new requests see the new snapshot, an in-flight one finishes on the old', async (t) => {
    const [port] = await freePorts(1)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [port!] }))

    const slow = await openRaw(port!)
    t.after(() => slow.socket.destroy())
    slow.write(GET('/hold'))
    await eventually(() => m.handled.length === 1)

    const prepared = await m.manager.prepare(fakePrepared({ label: 'B', ports: [port!] }))
    assert.deepEqual(prepared.kept, [`127.0.0.1:${port}`])
    assert.deepEqual(prepared.added, [])
    assert.equal(m.manager.current?.label, 'A', 'prepare changes nothing for traffic')
    m.manager.activate(prepared)
    assert.equal(m.manager.current?.label, 'B')

    const fresh = await exchange(t, port!, GET())
    assert.equal(fresh.response.body, `B 127.0.0.1:${port}`)
    const held = await slow.nextResponse()
    assert.equal(held.status, 200)
    assert.equal(held.body, `A 127.0.0.1:${port}`)
    // The kept connection stays usable and now sees B.
    slow.write(GET())
    assert.equal((await slow.nextResponse()).body, `B 127.0.0.1:${port}`)
    // No listener serves A any more, so it was retired at the swap.
    assert.deepEqual(m.retired, ['A'])
  })

  test('a removed listener stops accepting; its in-flight request completes', async (t) => {
    const [kept, removed] = await freePorts(2)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [kept!, removed!] }))

    const inflight = await openRaw(removed!)
    t.after(() => inflight.socket.destroy())
    inflight.write(GET('/hold'))
    await eventually(() => m.handled.length === 1)

    const prepared = await m.manager.prepare(fakePrepared({ label: 'B', ports: [kept!] }))
    assert.deepEqual(prepared.removed, [`127.0.0.1:${removed}`])
    m.manager.activate(prepared)
    assert.deepEqual(m.retired, [], 'the draining listener still serves from A')

    assert.equal(await isRefused(removed!), true, 'removed port refuses new connections')
    const done = await inflight.nextResponse()
    assert.equal(done.status, 200)
    assert.equal(done.body, `A 127.0.0.1:${removed}`)
    assert.equal(done.headers['connection'], 'close')
    assert.equal(await inflight.waitClosed(), true)
    assert.equal((await exchange(t, kept!, GET())).response.body, `B 127.0.0.1:${kept}`)
    await eventually(() => m.manager.stats().connections === 1) // the exchange above, kept alive
    await eventually(() => m.retired.length === 1)
    assert.deepEqual(m.retired, ['A'])
    assert.equal(m.manager.stats().listeners, 1)
    assert.equal(m.manager.ready, true)
  })

  test('a port held by another process: prepare rejects naming it, the old snapshot keeps serving', async (t) => {
    const [serving, extra, taken] = await freePorts(3)
    const other = spawn(
      process.execPath,
      [
        '-e',
        `require('net').createServer().listen(${taken}, '127.0.0.1', () => console.log('ready'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    t.after(() => other.kill())
    await Promise.race([
      once(other.stdout, 'data'),
      new Promise((_, reject) => setTimeout(() => reject(new Error('child not ready')), 5000)),
    ])

    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [serving!] }))
    // `extra` binds before `taken` fails, and must be released again.
    const next = fakePrepared({ label: 'B', ports: [serving!, extra!, taken!] })
    await assert.rejects(m.manager.prepare(next), (err: unknown) => {
      assert.ok(err instanceof ListenerBindError)
      assert.equal(err.code, 'EADDRINUSE')
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${taken}.*address already in use`))
      return true
    })
    assert.equal(m.manager.current?.label, 'A')
    assert.equal(m.manager.ready, true)
    assert.equal((await exchange(t, serving!, GET())).response.body, `A 127.0.0.1:${serving}`)
    assert.equal(await isRefused(extra!), true, 'what the failed prepare bound is closed again')

    // The failure left nothing pending: the next reload goes through.
    await m.load(fakePrepared({ label: 'C', ports: [serving!, extra!] }))
    assert.equal((await exchange(t, extra!, GET())).response.body, `C 127.0.0.1:${extra}`)
  })

  test('a new port accepts between prepare and activate, but serves only after activate', async (t) => {
    const [first, second] = await freePorts(2)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [first!] }))
    const prepared = await m.manager.prepare(fakePrepared({ label: 'B', ports: [first!, second!] }))
    assert.deepEqual(prepared.added, [`127.0.0.1:${second}`])

    const early = await openRaw(second!)
    t.after(() => early.socket.destroy())
    early.write(GET())
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(m.handled.length, 0, 'nothing served before activate')
    m.manager.activate(prepared)
    assert.equal((await early.nextResponse()).body, `B 127.0.0.1:${second}`)
  })

  test('abort closes what prepare bound and keeps the current snapshot', async (t) => {
    const [first, second] = await freePorts(2)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [first!] }))
    const prepared = await m.manager.prepare(fakePrepared({ label: 'B', ports: [first!, second!] }))
    await m.manager.abort(prepared)
    assert.equal(await isRefused(second!), true)
    assert.throws(() => m.manager.activate(prepared), /not the pending reload/)
    assert.equal((await exchange(t, first!, GET())).response.body, `A 127.0.0.1:${first}`)
  })

  test('one reload at a time', async (t) => {
    const [port] = await freePorts(1)
    const m = startTestManager(t)
    const prepared = await m.manager.prepare(fakePrepared({ label: 'A', ports: [port!] }))
    await assert.rejects(
      m.manager.prepare(fakePrepared({ label: 'B', ports: [port!] })),
      /another listener reload is pending/,
    )
    m.manager.activate(prepared)
    assert.equal(m.manager.ready, true)
  })

  test('a reload changes the limits of a kept listener', async (t) => {
    const [port] = await freePorts(1)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [port!] }))
    const headers = (n: number) =>
      `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`
    assert.equal((await exchange(t, port!, headers(20))).response.status, 200)
    await m.load(fakePrepared({ label: 'B', ports: [port!], limits: { maxHeaderCount: 10 } }))
    assert.equal((await exchange(t, port!, headers(20))).response.status, 431)
  })

  test('invalid downstream settings are refused before anything is bound', async (t) => {
    const [port] = await freePorts(1)
    const m = startTestManager(t)
    await assert.rejects(
      m.manager.prepare(
        fakePrepared({
          label: 'A',
          ports: [port!],
          limits: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 },
        }),
      ),
      /headersTimeoutMs \(20000\) must not exceed requestTimeoutMs/,
    )
    assert.equal(await isRefused(port!), true)
    assert.equal(m.manager.ready, false)
  })
})

describe('listener manager: drain', () => {
  test('in-flight requests finish with Connection: close; idle keep-alives close at once', async (t) => {
    const [port] = await freePorts(1)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [port!] }))

    const idle = await openRaw(port!)
    t.after(() => idle.socket.destroy())
    idle.write(GET())
    assert.equal((await idle.nextResponse()).status, 200)

    const busy = await openRaw(port!)
    t.after(() => busy.socket.destroy())
    busy.write(GET('/hold'))
    await eventually(() => m.handled.length === 2)
    assert.deepEqual(m.manager.stats(), { listeners: 1, connections: 2, inflight: 1 })

    const drained = m.manager.drain(5000)
    assert.equal(m.manager.ready, false)
    // Closed before the held request (300 ms) has been answered.
    assert.equal(await idle.waitClosed(250), true, 'idle keep-alive closed at once')
    assert.equal(busy.closed, false)
    assert.equal(await isRefused(port!), true, 'no new connections')

    const done = await busy.nextResponse()
    assert.equal(done.status, 200)
    assert.equal(done.headers['connection'], 'close')
    assert.equal(await busy.waitClosed(), true)
    assert.deepEqual(await drained, { forcedConnections: 0 })
    assert.deepEqual(m.manager.stats(), { listeners: 0, connections: 0, inflight: 0 })
    assert.deepEqual(m.retired, ['A'])
    await assert.rejects(m.manager.prepare(fakePrepared({ label: 'B', ports: [port!] })))
  })

  test('a response that went out with keep-alive before the drain still ends its connection', async (t) => {
    const [port] = await freePorts(1)
    const m = startTestManager(t, {
      // Headers now, body later: the keep-alive decision is made before the drain starts.
      '/stream': (res) => {
        res.writeHead(200, { 'content-length': '4' })
        res.write('ab')
        setTimeout(() => res.end('cd'), 300)
      },
    })
    await m.load(fakePrepared({ label: 'A', ports: [port!] }))
    const client = await openRaw(port!)
    t.after(() => client.socket.destroy())
    client.write(GET('/stream'))
    await eventually(() => m.handled.length === 1)
    const drained = m.manager.drain(5000)
    const response = await client.nextResponse()
    assert.equal(response.body, 'abcd')
    assert.equal(await client.waitClosed(), true)
    assert.deepEqual(await drained, { forcedConnections: 0 })
  })

  test('at the timeout, a request that never ends is cut and counted', async (t) => {
    const [port] = await freePorts(1)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [port!] }))
    const hung = await openRaw(port!)
    t.after(() => hung.socket.destroy())
    hung.write(GET('/hang'))
    await eventually(() => m.handled.length === 1)

    const result = await m.manager.drain(300)
    assert.deepEqual(result, { forcedConnections: 1 })
    assert.equal(await hung.waitClosed(), true)
    assert.equal(hung.pending, '', 'no response was sent')
    assert.deepEqual(m.manager.stats(), { listeners: 0, connections: 0, inflight: 0 })
  })

  test('a listener removed by a reload is cut at drainTimeoutMs', async (t) => {
    const [kept, removed] = await freePorts(2)
    const m = startTestManager(t)
    await m.load(fakePrepared({ label: 'A', ports: [kept!, removed!] }))
    const hung = await openRaw(removed!)
    t.after(() => hung.socket.destroy())
    hung.write(GET('/hang'))
    await eventually(() => m.handled.length === 1)
    await m.load(fakePrepared({ label: 'B', ports: [kept!], drainTimeoutMs: 200 }))
    assert.equal(await hung.waitClosed(3000), true)
    await eventually(() => m.manager.stats().connections === 0)
  })
})

test('refuses to run with the lenient HTTP parser', () => {
  assert.throws(() => assertStrictHttpParser(['--insecure-http-parser'], undefined), /refusing/)
  assert.throws(
    () => assertStrictHttpParser([], '--max-old-space-size=512 --insecure-http-parser'),
    /NODE_OPTIONS/,
  )
  assert.doesNotThrow(() => assertStrictHttpParser(['--enable-source-maps'], '--inspect'))
})
