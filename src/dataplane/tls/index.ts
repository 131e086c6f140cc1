export { createL4Support } from './l4-support.js'
export { parseClientHello } from './client-hello.js'
export type { L4Deps } from './tls-acceptor.js'
