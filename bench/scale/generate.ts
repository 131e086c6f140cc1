// Generates a large Istio config for the scale benchmark: N VirtualServices with one host and two
// routes each, spread over a few ServiceEntries (one cluster each), optionally some TLS hosts with
// their own credentialName. Written as one file or as a directory of one file per tenant (the
// layout `run -c DIR` watches file by file).
//
//   node --import tsx bench/scale/generate.ts --vs=10000 --out=/tmp/scale [--layout=dir]
//     [--clusters=4] [--tls=10] [--gateway-port=8080] [--upstream-port=9000] [--readiness-port=15021]
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'

export interface ScaleConfigOptions {
  readonly virtualServices: number
  /** ServiceEntries (one STATIC cluster each); VirtualService i routes to cluster i % clusters. */
  readonly clusters?: number
  /** The first `tls` hosts also get an HTTPS server with credentialName `tenant-<i>`. */
  readonly tls?: number
  readonly gatewayPort: number
  readonly httpsPort?: number
  readonly upstreamPort: number
  readonly readinessPort: number
  readonly adminPort?: number
}

/** One tenant's host name; the benchmark sends traffic to the last one. */
export function tenantHost(i: number): string {
  return `t${i}.tenants.example.com`
}

/** The shared documents: GatewayConfig, Gateway, ServiceEntries. */
export function baseDocs(o: ScaleConfigOptions): string {
  const clusters = o.clusters ?? 1
  const docs: string[] = [
    `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata:
  name: gateway
spec:
  bindAddress: 127.0.0.1
  admin:
    address: 127.0.0.1
    port: ${o.adminPort ?? 0}
  readiness:
    port: ${o.readinessPort}
  metrics:
    port: 0
  accessLog:
    disabled: true
`,
    gatewayDoc(o),
  ]
  for (let c = 0; c < clusters; c++) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: backend-${c}
spec:
  hosts: [backend-${c}.upstream.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - number: 80
      name: http
      protocol: HTTP
  endpoints:
    - address: 127.0.0.1
      ports:
        http: ${o.upstreamPort}
`)
  }
  return docs.join('---\n')
}

function gatewayDoc(o: ScaleConfigOptions): string {
  const servers = [
    `    - port:
        number: ${o.gatewayPort}
        name: http
        protocol: HTTP
      hosts: ["*"]`,
  ]
  for (let i = 0; i < (o.tls ?? 0); i++) {
    servers.push(`    - port:
        number: ${o.httpsPort ?? o.gatewayPort + 1}
        name: https-${i}
        protocol: HTTPS
      hosts: [${tenantHost(i)}]
      tls:
        mode: SIMPLE
        credentialName: tenant-${i}`)
  }
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  servers:
${servers.join('\n')}
`
}

/** VirtualService i: one host, two routes (a prefix with a header and the catch-all). */
export function virtualServiceDoc(i: number, clusters = 1, version = 0): string {
  const backend = `backend-${i % clusters}.upstream.test`
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tenant-${i}
spec:
  hosts: [${tenantHost(i)}]
  gateways: [edge]
  http:
    - name: api
      match:
        - uri:
            prefix: /api/
      headers:
        response:
          set:
            x-tenant-version: "${version}"
      route:
        - destination:
            host: ${backend}
            port:
              number: 80
    - name: default
      route:
        - destination:
            host: ${backend}
            port:
              number: 80
`
}

/** File name → text. `dir`: base.yaml plus one tenant-<i>.yaml each; `file`: one gateway.yaml. */
export function generateScaleConfig(
  o: ScaleConfigOptions,
  layout: 'file' | 'dir',
): Map<string, string> {
  const out = new Map<string, string>()
  const clusters = o.clusters ?? 1
  if (layout === 'dir') {
    out.set('base.yaml', baseDocs(o))
    for (let i = 0; i < o.virtualServices; i++) {
      out.set(`tenant-${String(i).padStart(6, '0')}.yaml`, virtualServiceDoc(i, clusters))
    }
    return out
  }
  const parts = [baseDocs(o)]
  for (let i = 0; i < o.virtualServices; i++) parts.push(virtualServiceDoc(i, clusters))
  out.set('gateway.yaml', parts.join('---\n'))
  return out
}

/** The file VirtualService i lives in, for a given layout. */
export function fileOf(i: number, layout: 'file' | 'dir'): string {
  return layout === 'dir' ? `tenant-${String(i).padStart(6, '0')}.yaml` : 'gateway.yaml'
}

/** Writes the config (and, for TLS hosts, one self-signed chain copied per credential). */
export function writeScaleConfig(dir: string, o: ScaleConfigOptions, layout: 'file' | 'dir'): void {
  mkdirSync(dir, { recursive: true })
  for (const [name, text] of generateScaleConfig(o, layout)) writeFileSync(join(dir, name), text)
  const tls = o.tls ?? 0
  if (tls === 0) return
  // certsDir defaults to ./certs next to the Gateway's file. One key for every tenant: RSA key
  // generation is slow, and what is measured is the config, not the key material.
  const ca = createCa('scale bench CA')
  const leaf = issueCertificate(ca, {
    hosts: Array.from({ length: tls }, (_, i) => tenantHost(i)),
  })
  for (let i = 0; i < tls; i++) {
    const d = join(dir, 'certs', `tenant-${i}`)
    mkdirSync(d, { recursive: true })
    writeFileSync(join(d, 'tls.crt'), leaf.cert)
    writeFileSync(join(d, 'tls.key'), leaf.key)
  }
}

function arg(name: string, fallback: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`))
  return hit === undefined ? fallback : hit.slice(name.length + 3)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const layout = arg('layout', 'file') === 'dir' ? 'dir' : 'file'
  const out = arg('out', 'bench/results/scale-config')
  writeScaleConfig(
    out,
    {
      virtualServices: Number(arg('vs', '1000')),
      clusters: Number(arg('clusters', '1')),
      tls: Number(arg('tls', '0')),
      gatewayPort: Number(arg('gateway-port', '8080')),
      upstreamPort: Number(arg('upstream-port', '9000')),
      readinessPort: Number(arg('readiness-port', '15021')),
    },
    layout,
  )
  process.stdout.write(`wrote ${out} (${layout})\n`)
}
