// What the ACME e2e tests ask a gateway: the serial of the certificate it serves for a name,
// verified with the CA's root, and a poll with a deadline for it to change.
import { connect } from 'node:tls'

/** The serial of the certificate served for `host` on `port`, verified with `ca`; else undefined. */
export function verifiedSerial(
  port: number,
  host: string,
  ca: string,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: host, ca }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber
      socket.destroy()
      resolve(serial)
    })
    socket.setTimeout(3000, () => socket.destroy(new Error('timeout')))
    socket.on('error', () => resolve(undefined))
  })
}

/** `probe` until it answers (every 100 ms), or throws past `timeoutMs`. */
export async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error('not within the deadline')
    await new Promise((r) => setTimeout(r, 100))
  }
}
