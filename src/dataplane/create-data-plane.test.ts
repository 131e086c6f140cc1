import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect } from 'node:net'
import { ProxyAgent, request } from 'undici'
import { compile } from '../compile/index.js'
import { loadConfigText } from '../config/index.js'
import { silentLogger } from '../lib/index.js'
import { createDataPlane } from './create-data-plane.js'
import { closedPort, startUpstream } from '../../test/support/http-harness.js'

function snapshotFor(yaml: string) {
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  return compile(loaded.resources).snapshot
}

function config(outboundPort: number, extraListener?: number): string {
  const gateway =
    extraListener === undefined
      ? ''
      : `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  servers:
  - port: {number: ${extraListener}, name: http, protocol: HTTP}
    hosts: ["*"]
`
  return `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  bindAddress: 127.0.0.1
  outbound: {port: ${outboundPort}, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: ALLOW_ANY, allowPrivateAddresses: true}
${gateway}`
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

test('an outbound port that cannot be bound rejects the reload and unbinds the rest', async (t) => {
  const upstream = await startUpstream(t, 'up')
  const oldOutbound = await closedPort()
  const dp = createDataPlane({ observer: { onRequestComplete: () => {} }, log: silentLogger })
  t.after(() => dp.drain(0))
  dp.activate(await dp.prepare(snapshotFor(config(oldOutbound))))

  // Someone else holds the new outbound port.
  const squatter = createServer()
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())))
  const taken = (squatter.address() as { port: number }).port
  const newListener = await closedPort()

  await assert.rejects(dp.prepare(snapshotFor(config(taken, newListener))), /EADDRINUSE/)
  assert.equal(await isListening(newListener), false, 'the new Gateway listener was closed')

  // The old configuration still serves through the old outbound listener.
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${oldOutbound}`, proxyTunnel: false })
  t.after(() => agent.close())
  const res = await request(`http://127.0.0.1:${upstream.port}/still`, { dispatcher: agent })
  assert.equal(res.statusCode, 200)
  await res.body.text()
  assert.equal(upstream.seen.at(-1)?.url, '/still')

  // Nothing is left pending: the next reload binds both listeners.
  const freeOutbound = await closedPort()
  dp.activate(await dp.prepare(snapshotFor(config(freeOutbound, newListener))))
  assert.equal(await isListening(newListener), true)
  assert.equal(await isListening(freeOutbound), true)
  // The old outbound listener stops accepting once the new one serves.
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(await isListening(oldOutbound), false)
})
