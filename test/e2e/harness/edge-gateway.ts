// A gateway process with the two listener kinds abuse tests aim at: plain HTTP on one port and
// HTTPS (SIMPLE, ALPN h2 + http/1.1) on another, both routed to one echo upstream; plus the
// metrics port, and canaries that prove the process still serves both.
import { connect, type ClientHttp2Session } from 'node:http2'
import { createCa, issueCertificate, type Pem } from '../../../src/cli/cert-forge.js'
import { startGateway, type GatewayProcess } from './gateway.js'
import { gatewayConfigDoc } from './config-docs.js'
import { request } from './http.js'
import { freePorts } from './ports.js'
import { startUpstream, type Upstream } from './upstream.js'

export const EDGE_HOST = 'web.example.com'

export interface EdgeGateway {
  readonly gw: GatewayProcess
  readonly up: Upstream
  readonly ca: Pem
  readonly plainPort: number
  readonly tlsPort: number
  readonly metricsPort: number
  /** One HTTP/1.1 request on the plain port and one HTTP/2 request over TLS: both must be 200. */
  canary(): Promise<void>
  /** The Prometheus text of the metrics port. */
  metrics(): Promise<string>
  close(): Promise<void>
}

export interface EdgeGatewayOptions {
  /** More lines under the GatewayConfig `spec:`, indented by two spaces. */
  extraSpec?: string[]
}

export async function startEdgeGateway(opts: EdgeGatewayOptions = {}): Promise<EdgeGateway> {
  const [plainPort, tlsPort, readinessPort, metricsPort] = await freePorts(4)
  const ca = createCa('edge test CA')
  const web = issueCertificate(ca, { hosts: [EDGE_HOST] })
  const up = await startUpstream({ name: 'echo' })
  const yaml = `${gatewayConfigDoc({
    readinessPort: readinessPort!,
    metricsPort: metricsPort!,
    accessLog: false,
    ...(opts.extraSpec !== undefined ? { extraSpec: opts.extraSpec } : {}),
  })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${plainPort}, name: http, protocol: HTTP }
      hosts: ['*']
    - port: { number: ${tlsPort}, name: https, protocol: HTTPS }
      hosts: [${EDGE_HOST}]
      tls: { mode: SIMPLE, credentialName: web }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - route: [{ destination: { host: echo.test } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo.test]
  ports: [{ number: ${up.port}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`
  let gw: GatewayProcess
  try {
    gw = await startGateway({
      yaml,
      files: { 'certs/web/tls.crt': web.cert, 'certs/web/tls.key': web.key },
    })
  } catch (err) {
    await up.close()
    throw err
  }
  return {
    gw,
    up,
    ca,
    plainPort: plainPort!,
    tlsPort: tlsPort!,
    metricsPort: metricsPort!,
    async canary() {
      const h1 = await request(`http://127.0.0.1:${plainPort}/canary`, { timeoutMs: 10_000 })
      if (h1.status !== 200) throw new Error(`HTTP/1.1 canary: status ${h1.status}`)
      const h2 = await h2Get(tlsPort!, ca.cert, '/canary')
      if (h2 !== 200) throw new Error(`HTTP/2 canary: status ${h2}`)
    },
    async metrics() {
      const res = await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)
      return res.text
    },
    async close() {
      await gw.cleanup()
      await up.close()
    },
  }
}

/** GET over a fresh HTTP/2 connection; the status, or 0 when no response came within 10 s. */
export function h2Get(port: number, ca: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(0), 10_000)
    const finish = (status: number): void => {
      clearTimeout(timer)
      session.destroy()
      resolve(status)
    }
    const session: ClientHttp2Session = connect(`https://${EDGE_HOST}:${port}`, {
      host: '127.0.0.1',
      servername: EDGE_HOST,
      ca,
    } as Parameters<typeof connect>[1])
    session.on('error', () => finish(0))
    const stream = session.request({ ':path': path })
    stream.on('response', (h) => {
      stream.resume()
      stream.on('end', () => finish(Number(h[':status'])))
    })
    stream.on('error', () => finish(0))
    stream.end()
  })
}

/** The value of one sample (`name{labels}` exactly as printed), or 0 when absent. */
export function metricValue(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
  }
  return 0
}

/** The sum of every sample of `name` whose labels include all of `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))
    if (ok) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}
