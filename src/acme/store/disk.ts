/**
 * The state directory on disk (no Redis): the account key in its file, the certificate and key
 * in the credential directory the TLS listener reads, challenges and the order lock in memory.
 * One replica; the directory must be persistent.
 */
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { createMemoryChallengeStore } from '../challenge-store.js'
import { readOptional, writeCertificate, writeSecretFile } from '../files.js'
import { createLeaseTable } from './lease-table.js'
import type { AcmeStore } from './types.js'

export function createDiskStore(now: () => number = Date.now): AcmeStore {
  const leases = createLeaseTable(now)
  const accounts = new Map<string, Promise<string>>()
  return {
    kind: 'disk',
    accountKey(issuer, create) {
      // Certificates of one issuer start together: the first call creates, the others wait.
      const file = issuer.accountKeyFile
      let p = accounts.get(file)
      if (p === undefined) {
        p = (async () => {
          const existing = await readOptional(file)
          if (existing !== undefined) return existing
          const key = await create()
          await writeSecretFile(file, key)
          return key
        })()
        accounts.set(file, p)
        p.catch(() => accounts.delete(file))
      }
      return p
    },
    async readCertificate(spec) {
      const cert = await readOptional(join(spec.dir, 'tls.crt'))
      const key = await readOptional(join(spec.dir, 'tls.key'))
      if (cert === undefined || key === undefined) return undefined
      try {
        new X509Certificate(cert)
      } catch {
        return undefined
      }
      return { cert, key }
    },
    async writeCertificate(spec, issued, lock) {
      if (!(await lock.stillHeld())) return false
      await writeCertificate(spec.dir, issued.cert, issued.key)
      return true
    },
    acquire: (id, ttlMs) => Promise.resolve(leases.acquire(id, ttlMs)),
    challenges: createMemoryChallengeStore(now),
    onCertificate: () => undefined,
    close: () => Promise.resolve(),
  }
}
