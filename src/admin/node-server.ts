/** Promise wrappers around node:http listen/close, shared by the readiness and metrics servers. */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}

/**
 * Stops accepting and resolves once the server is closed. `isFinal` also cuts open keep-alive
 * connections (the process is exiting); otherwise in-flight requests finish.
 */
export function closeServer(server: Server, isFinal: boolean): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve()
      return
    }
    server.close(() => resolve())
    if (isFinal) server.closeAllConnections()
    else server.closeIdleConnections()
  })
}
