// maxRequestsPerConnection on the real process, as a raw-socket client sees it: the limit's
// response says close, the connection closes, nothing else arrives (no reply of Node's own), and
// every response that went out has its access log line and its istio_requests_total count.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  parseResponses,
  proxyRouteDocs,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, Upstream } from './harness/index.js'

const LIMIT = 5

async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Writes `data` on a fresh connection; resolves with everything received once the server closes. */
function untilClosed(port: number, data: string): Promise<{ received: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    socket.setEncoding('latin1')
    socket.on('data', (c: string) => (received += c))
    socket.on('error', () => undefined)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ received, closed: false })
    }, 15_000)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ received, closed: true })
    })
    socket.on('connect', () => socket.write(data))
  })
}

describe('connection lifetime (real process)', () => {
  let gw: GatewayProcess
  let up: Upstream
  let port: number
  let metricsPort: number

  before(async () => {
    const [gatewayPort, readinessPort, metrics] = await freePorts(3)
    port = gatewayPort!
    metricsPort = metrics!
    up = await startUpstream({ name: 'lifetime' })
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readinessPort!,
          metricsPort,
          extraSpec: [
            '  accessLog:',
            '    encoding: JSON',
            '  downstream:',
            `    maxRequestsPerConnection: ${LIMIT}`,
          ],
        }),
        proxyRouteDocs({ gatewayPort: port, upstreamPort: up.port }),
      ),
    })
  })

  after(async () => {
    await gw?.cleanup()
    await up?.close()
  })

  async function requestsTotal(): Promise<number> {
    const text = (await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)).text
    let sum = 0
    for (const line of text.split('\n')) {
      if (line.startsWith('istio_requests_total{')) {
        sum += Number(line.slice(line.lastIndexOf(' ') + 1))
      }
    }
    return sum
  }

  function loggedPaths(prefix: string): string[] {
    const out: string[] = []
    for (const line of gw.stdout) {
      if (!line.includes('"response_code"')) continue
      try {
        const entry = JSON.parse(line) as { path?: string }
        if (entry.path?.startsWith(prefix) === true) out.push(entry.path)
      } catch {
        // not an access log line
      }
    }
    return out
  }

  test('requests pipelined past the limit: LIMIT responses, then the close, all logged and counted', async () => {
    const before = await requestsTotal()
    let data = ''
    for (let i = 1; i <= LIMIT + 3; i++)
      data += `GET /pipelined/${i} HTTP/1.1\r\nHost: a.test\r\n\r\n`
    const { received, closed } = await untilClosed(port, data)
    assert.equal(closed, true, 'the gateway closed the connection')
    const { responses, rest } = parseResponses(received)
    assert.equal(responses.length, LIMIT, 'exactly LIMIT responses')
    assert.equal(rest.length, 0, 'nothing after the last one')
    for (const [i, res] of responses.entries()) {
      assert.equal(res.status, 200)
      const connection = res.headers.find(([n]) => n.toLowerCase() === 'connection')?.[1]
      assert.equal(connection, i === LIMIT - 1 ? 'close' : 'keep-alive', `response ${i + 1}`)
    }
    const paths = await eventually(() => {
      const found = loggedPaths('/pipelined/')
      return found.length >= LIMIT ? found : undefined
    }, 'the access log lines')
    assert.deepEqual(
      paths.sort(),
      Array.from({ length: LIMIT }, (_, i) => `/pipelined/${i + 1}`),
    )
    await eventually(
      async () => ((await requestsTotal()) - before === LIMIT ? true : undefined),
      'istio_requests_total counting exactly the responses sent',
    )
  })

  test('requests one after another: the limit-th response closes the connection', async () => {
    const socket = connect(port, '127.0.0.1')
    socket.setEncoding('latin1')
    socket.on('error', () => undefined)
    let received = ''
    let closed = false
    socket.on('data', (c: string) => (received += c))
    socket.on('close', () => (closed = true))
    await new Promise((resolve) => socket.once('connect', resolve))
    try {
      for (let i = 1; i <= LIMIT; i++) {
        socket.write(`GET /sequential/${i} HTTP/1.1\r\nHost: a.test\r\n\r\n`)
        await eventually(
          () => (parseResponses(received).responses.length === i ? true : undefined),
          `response ${i}`,
        )
      }
      await eventually(() => (closed ? true : undefined), 'the close after the limit')
      assert.equal(parseResponses(received).rest.length, 0)
    } finally {
      socket.destroy()
    }
  })
})
