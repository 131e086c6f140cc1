// maxRequestsPerConnection as a raw-socket client sees it: the limit's response ends
// the connection and nothing else arrives on it (no reply of Node's own).
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { describe, test } from 'node:test'
import type { TestManager } from '../../../test/support/listener-kit.js'
import {
  fakePrepared,
  freePorts,
  openRaw,
  startTestManager,
} from '../../../test/support/listener-kit.js'

async function serving(
  t: TestContext,
  maxRequestsPerConnection: number,
): Promise<TestManager & { port: number }> {
  const [port] = await freePorts(1)
  const m = startTestManager(t)
  await m.load(fakePrepared({ label: 'A', ports: [port!], limits: { maxRequestsPerConnection } }))
  return { ...m, port: port! }
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`

describe('http listener: connection lifetime', () => {
  test('the maxRequestsPerConnection-th response says close and the connection closes', async (t) => {
    const m = await serving(t, 3)
    const client = await openRaw(m.port)
    t.after(() => client.socket.destroy())
    for (let i = 1; i <= 3; i++) {
      client.write(GET(`/r${i}`))
      const res = await client.nextResponse()
      assert.equal(res.status, 200)
      assert.equal(res.headers['connection'], i < 3 ? 'keep-alive' : 'close', `response ${i}`)
    }
    assert.equal(await client.waitClosed(5000), true, 'closed after the last response')
    assert.equal(client.pending, '', 'nothing after the last response')
    assert.equal(m.handled.length, 3)
  })

  test('requests pipelined past the limit are never answered, by us or by Node', async (t) => {
    const m = await serving(t, 2)
    const client = await openRaw(m.port)
    t.after(() => client.socket.destroy())
    client.write(GET('/a') + GET('/b') + GET('/c') + GET('/d'))
    const first = await client.nextResponse()
    const second = await client.nextResponse()
    assert.equal(first.status, 200)
    assert.equal(second.status, 200)
    assert.equal(second.headers['connection'], 'close')
    assert.equal(await client.waitClosed(5000), true)
    assert.equal(client.pending, '', 'no 503 or any other reply after the limit')
    assert.deepEqual(
      m.handled.map((h) => h.url),
      ['/a', '/b'],
    )
    assert.equal(m.records.length, 0, 'no rejection either: nothing was sent')
  })

  test('maxRequestsPerConnection 0 keeps the connection open', async (t) => {
    const m = await serving(t, 0)
    const client = await openRaw(m.port)
    t.after(() => client.socket.destroy())
    for (let i = 0; i < 5; i++) {
      client.write(GET('/'))
      assert.equal((await client.nextResponse()).headers['connection'], 'keep-alive')
    }
    assert.equal(client.closed, false)
  })
})
