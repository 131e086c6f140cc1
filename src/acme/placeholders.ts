/**
 * Before a snapshot with ACME Certificates is applied, every credential they fill must have
 * files, or the TLS listener cannot load. A missing one gets the temporary certificate,
 * synchronously, because config builds are synchronous.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import { createPlaceholder } from './placeholder.js'

export function ensurePlaceholders(plan: ir.AcmePlan | undefined, log: Logger): void {
  for (const c of plan?.certificates ?? []) {
    const certFile = join(c.dir, 'tls.crt')
    if (existsSync(certFile)) continue
    const pem = createPlaceholder(c.dnsNames)
    mkdirSync(c.dir, { recursive: true, mode: 0o700 })
    for (const [name, text, mode] of [
      ['tls.key', pem.key, 0o600],
      ['tls.crt', pem.cert, 0o644],
    ] as const) {
      const tmp = join(c.dir, `.${name}.${process.pid}.tmp`)
      writeFileSync(tmp, text, { mode })
      renameSync(tmp, join(c.dir, name))
    }
    log.info('acme certificate not issued yet; serving a temporary self-signed certificate', {
      certificate: c.id,
      dir: c.dir,
    })
  }
}
