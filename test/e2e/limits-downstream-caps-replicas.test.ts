// Two gateway processes sharing one real redis-server: GatewayConfig
// downstream.maxConnectionsPerClient is a cap across both. The replicas listen on the same port
// on two loopback addresses (as replicas on two hosts would), so they share one lease key.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const PER_CLIENT = 2
const LEASE_TTL_MS = 2000
const TIMEOUT_MS = 5000
const REPLICA_ADDRESSES = ['127.0.0.10', '127.0.0.11'] as const

function configFor(
  address: string,
  httpPort: number,
  readinessPort: number,
  metricsPort: number,
  redisUrl: string,
): string {
  return `${gatewayConfigDoc({
    bindAddress: address,
    readinessPort,
    metricsPort,
    accessLog: false,
    extraSpec: [
      '  downstream:',
      `    maxConnectionsPerClient: ${PER_CLIENT}`,
      '  redis:',
      `    url: ${redisUrl}`,
      '    commandTimeout: 2s',
      '    expectedReplicas: 2',
      `    leaseTtl: ${LEASE_TTL_MS}ms`,
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
 * Opens a connection and sends one keep-alive request: 'served' when the response arrives,
 * 'closed' when the gateway closes the connection without an answer.
 */
function open(
  host: string,
  port: number,
  localAddress: string,
): Promise<{ socket: Socket; outcome: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress })
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

describe('downstream connection caps shared by 2 replicas through Redis', () => {
  let redis: RedisServer
  let httpPort = 0
  const metricsPorts: number[] = []
  const gateways: GatewayProcess[] = []
  const sockets: Socket[] = []

  before(async () => {
    redis = await startRedisServer()
    const ports = await freePorts(1 + 2 * REPLICA_ADDRESSES.length)
    httpPort = ports[0]!
    for (const [i, address] of REPLICA_ADDRESSES.entries()) {
      const readinessPort = ports[1 + 2 * i]!
      metricsPorts.push(ports[2 + 2 * i]!)
      const yaml = configFor(address, httpPort, readinessPort, metricsPorts[i]!, redis.url)
      // Readiness binds the replica's address; the harness probes 127.0.0.1, so wait for the log.
      const gateway = await startGateway({ yaml, waitForReady: false })
      gateways.push(gateway)
      await gateway.waitForLine(/portcullis started/, 20_000)
    }
  })
  after(async () => {
    for (const s of sockets) s.destroy()
    for (const gw of gateways) await gw.cleanup()
    await redis?.stop()
  })

  async function opened(replica: number, client: string): Promise<string> {
    const { socket, outcome } = await open(REPLICA_ADDRESSES[replica]!, httpPort, client)
    sockets.push(socket)
    return outcome
  }

  /** Opens connections (bounded) until one is served; the time it took, or -1. */
  async function openUntilServed(replica: number, client: string, timeoutMs: number) {
    const startedAt = Date.now()
    while (Date.now() - startedAt < timeoutMs) {
      if ((await opened(replica, client)) === 'served') return Date.now() - startedAt
      await sleep(50)
    }
    return -1
  }

  async function refusedPerClient(replica: number): Promise<number> {
    const res = await request(
      `http://${REPLICA_ADDRESSES[replica]}:${metricsPorts[replica]}/stats/prometheus`,
    )
    const text = await res.body.text()
    const m =
      /portcullis_downstream_connections_refused_total\{[^}]*reason="max_connections_per_client"[^}]*\} (\d+)/.exec(
        text,
      )
    return Number(m?.[1] ?? 0)
  }

  test('a third connection from one client to either replica is closed; a close frees a place', async () => {
    assert.equal(await opened(0, '127.0.0.1'), 'served')
    assert.equal(await opened(0, '127.0.0.1'), 'served')
    // Replica 1 holds none of them, yet the client is at its cap: closed, counted there.
    assert.equal(await opened(1, '127.0.0.1'), 'closed')
    assert.equal(await opened(0, '127.0.0.1'), 'closed')
    assert.equal(await refusedPerClient(1), 1)
    // Another client has its own count.
    assert.equal(await opened(1, '127.0.0.2'), 'served')

    sockets[0]!.destroy()
    assert.ok(
      (await openUntilServed(1, '127.0.0.1', TIMEOUT_MS)) >= 0,
      'a closed one frees a place',
    )
    assert.equal(await opened(1, '127.0.0.1'), 'closed')
  })

  test('SIGKILL of a replica: its places come back within the lease TTL', async () => {
    // Now replica 0 and replica 1 hold one connection each of client 127.0.0.1.
    await gateways[0]!.kill()
    const killedAt = Date.now()
    // The dead replica cannot give its lease back: it is held until it expires.
    assert.equal(await opened(1, '127.0.0.1'), 'closed')
    const waited = await openUntilServed(1, '127.0.0.1', LEASE_TTL_MS + 3000)
    assert.ok(waited >= 0, 'the dead replica’s place came back')
    assert.ok(Date.now() - killedAt <= LEASE_TTL_MS + 3000)
    assert.equal(await opened(1, '127.0.0.1'), 'closed')
  })
})
