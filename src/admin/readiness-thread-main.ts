/**
 * The readiness thread's entry (started by readiness-thread.ts): serves `GET /healthz/ready`
 * from the beacon the event loop publishes, with the same handler as the in-loop server.
 */
import type { AddressInfo } from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'
import { readBeacon } from './readiness-beacon.js'
import { createReadinessServer } from './readiness-server.js'
import type { ThreadData, ThreadReply } from './readiness-thread.js'

const data = workerData as ThreadData
const port = parentPort
const reply = (m: ThreadReply): void => port?.postMessage(m)
const server = createReadinessServer(readBeacon(data.buffer))

server.once('error', (e: NodeJS.ErrnoException) =>
  reply({ t: 'error', message: e.message, ...(e.code !== undefined ? { code: e.code } : {}) }),
)
server.listen(data.port, data.address, () => {
  const info = server.address() as AddressInfo
  reply({ t: 'listening', address: info.address, port: info.port })
})
port?.on('message', (m: { readonly t: 'close'; readonly isFinal: boolean }) => {
  server.close(() => process.exit(0))
  if (m.isFinal) server.closeAllConnections()
  else server.closeIdleConnections()
})
