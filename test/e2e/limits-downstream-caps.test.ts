// GatewayConfig downstream.maxConnections / maxConnectionsPerClient through the real process:
// connections over a cap are closed at accept, counted in a metric and logged; a closed
// connection frees its place.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { request } from 'undici'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const PER_CLIENT = 2
const TOTAL = 3
const TIMEOUT_MS = 5000

function configFor(httpPort: number, readinessPort: number, metricsPort: number): string {
  return `${gatewayConfigDoc({
    readinessPort,
    metricsPort,
    accessLog: false,
    extraSpec: [
      '  downstream:',
      `    maxConnections: ${TOTAL}`,
      `    maxConnectionsPerClient: ${PER_CLIENT}`,
    ],
  })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  servers: [{port: {number: ${httpPort}, name: http, protocol: HTTP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: ['*']
  gateways: [web]
  http: [{name: all, directResponse: {status: 200, body: {string: served}}}]
`
}

/**
 * Opens a connection from `localAddress` and sends one keep-alive request: 'served' when the
 * response arrives, 'closed' when the gateway closes the connection without an answer.
 */
function open(port: number, localAddress: string): Promise<{ socket: Socket; outcome: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress })
    let data = ''
    const timer = setTimeout(() => reject(new Error('no answer and no close')), TIMEOUT_MS)
    const finish = (outcome: string) => {
      clearTimeout(timer)
      resolve({ socket, outcome })
    }
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n'))
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1')
      if (data.endsWith('served')) finish('served')
    })
    socket.on('error', () => undefined)
    socket.on('close', () => finish(data.endsWith('served') ? 'served' : 'closed'))
  })
}

describe('downstream connection caps per listener', () => {
  let gateway: GatewayProcess
  let httpPort = 0
  let metricsPort = 0
  const sockets: Socket[] = []

  before(async () => {
    const ports = await freePorts(3)
    httpPort = ports[0]!
    metricsPort = ports[2]!
    gateway = await startGateway({ yaml: configFor(httpPort, ports[1]!, metricsPort) })
  })
  after(async () => {
    for (const s of sockets) s.destroy()
    await gateway?.cleanup()
  })

  async function opened(localAddress: string): Promise<string> {
    const { socket, outcome } = await open(httpPort, localAddress)
    sockets.push(socket)
    return outcome
  }

  test('per client, in total, and a closed connection frees its place', async () => {
    assert.equal(await opened('127.0.0.1'), 'served')
    assert.equal(await opened('127.0.0.1'), 'served')
    // Third from the same client: over maxConnectionsPerClient.
    assert.equal(await opened('127.0.0.1'), 'closed')
    // Another client still fits under the total...
    assert.equal(await opened('127.0.0.2'), 'served')
    // ...and then the listener is full for everyone.
    assert.equal(await opened('127.0.0.3'), 'closed')

    sockets[0]!.destroy()
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(await opened('127.0.0.3'), 'served')

    const res = await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)
    const text = await res.body.text()
    const count = (reason: string) =>
      Number(
        new RegExp(
          `portcullis_downstream_connections_refused_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`,
        ).exec(text)?.[1] ?? 0,
      )
    assert.equal(count('max_connections_per_client'), 1)
    assert.equal(count('max_connections'), 1)
    await gateway.waitForLine(/downstream connections refused over the listener cap/, TIMEOUT_MS)
  })
})
