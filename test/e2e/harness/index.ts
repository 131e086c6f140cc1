// Everything an end-to-end test needs: free ports, real upstreams, the gateway as a child
// process, and HTTP clients (undici, raw sockets, curl).
export * from './ports.js'
export * from './upstream.js'
export * from './gateway.js'
export * from './http.js'
export type { HeaderList } from './framing.js'
