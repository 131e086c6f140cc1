// YAML documents tests and the benchmark put in front of the gateway. Ports are always explicit:
// the defaults (15000/15021/15090) would collide between tests running in parallel.

export interface GatewayConfigDocOptions {
  readinessPort: number
  // 0 (the default here) disables the listener.
  adminPort?: number
  metricsPort?: number
  // false disables the access log; a string is the file path it goes to.
  accessLog?: boolean | string
  bindAddress?: string
  drainTimeout?: string
  // More lines under `spec:`, already indented by two spaces.
  extraSpec?: string[]
}

export function gatewayConfigDoc(opts: GatewayConfigDocOptions): string {
  const lines = [
    'apiVersion: portcullis.io/v1alpha1',
    'kind: GatewayConfig',
    'metadata:',
    '  name: gateway',
    'spec:',
    `  bindAddress: ${opts.bindAddress ?? '127.0.0.1'}`,
    '  admin:',
    '    address: 127.0.0.1',
    `    port: ${opts.adminPort ?? 0}`,
    '  readiness:',
    `    port: ${opts.readinessPort}`,
    '  metrics:',
    `    port: ${opts.metricsPort ?? 0}`,
  ]
  if (opts.accessLog === false) lines.push('  accessLog:', '    disabled: true')
  else if (typeof opts.accessLog === 'string') {
    lines.push('  accessLog:', '    disabled: false', `    path: ${JSON.stringify(opts.accessLog)}`)
  }
  if (opts.drainTimeout !== undefined) lines.push(`  drainTimeout: ${opts.drainTimeout}`)
  if (opts.extraSpec !== undefined) lines.push(...opts.extraSpec)
  return lines.join('\n') + '\n'
}

export interface ProxyRouteOptions {
  // Port the gateway listens on for this route.
  gatewayPort: number
  upstreamPort: number
  // Hosts the Gateway server and VirtualService accept (default ["*"]).
  hosts?: string[]
  // Prefix for resource names, so several routes can share one file.
  name?: string
  upstreamHost?: string
}

// Gateway + VirtualService + ServiceEntry: HTTP on gatewayPort, every path to a STATIC
// endpoint at 127.0.0.1:upstreamPort.
export function proxyRouteDocs(opts: ProxyRouteOptions): string {
  const name = opts.name ?? 'echo'
  const hosts = JSON.stringify(opts.hosts ?? ['*'])
  const service = opts.upstreamHost ?? `${name}.upstream.test`
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: ${name}-gateway
spec:
  servers:
    - port:
        number: ${opts.gatewayPort}
        name: http-${name}
        protocol: HTTP
      hosts: ${hosts}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: ${hosts}
  gateways: [${name}-gateway]
  http:
    - route:
        - destination:
            host: ${service}
            port:
              number: 80
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}-upstream
spec:
  hosts: [${service}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - number: 80
      name: http
      protocol: HTTP
  endpoints:
    - address: 127.0.0.1
      ports:
        http: ${opts.upstreamPort}
`
}

// Joins YAML documents into one multi-document file.
export function joinDocs(...docs: string[]): string {
  return docs.map((d) => d.replace(/^---\n/, '').trimEnd() + '\n').join('---\n')
}
