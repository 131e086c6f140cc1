// Everything an end-to-end test needs: free ports, real upstreams, the gateway as a child
// process, and HTTP clients (undici, raw sockets, curl). Typical use:
//
//   const [gatewayPort, readinessPort] = await freePorts(2)
//   const up = await startUpstream({ name: 'v1' })
//   t.after(() => up.close())
//   const gw = await startGateway({
//     yaml: joinDocs(
//       gatewayConfigDoc({ readinessPort: readinessPort! }),
//       proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort: up.port }),
//     ),
//   })
//   t.after(() => gw.cleanup())
//   const res = await request(`http://127.0.0.1:${gatewayPort}/anything`)
//
// PORTCULLIS_E2E_BIN=1 runs the built CLI (bin/portcullis) instead of src/ through tsx.
export * from './ports.js'
export * from './upstream.js'
export * from './gateway.js'
export * from './http.js'
export type { HeaderList } from './framing.js'
