/**
 * The state on disk: a certificate is `tls.crt` and `tls.key` in its credential directory, an
 * account key one PEM file. Writes go to a temporary name and are renamed into place (key
 * first), so the TLS listener's watcher never loads half a file; keys are mode 0600.
 */
import { X509Certificate } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, text, { mode })
  await rename(tmp, file)
}

export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export interface InstalledCertificate {
  readonly pem: string
  readonly x509: X509Certificate
}

export async function readInstalled(dir: string): Promise<InstalledCertificate | undefined> {
  const pem = await readOptional(join(dir, 'tls.crt'))
  if (pem === undefined) return undefined
  try {
    return { pem, x509: new X509Certificate(pem) }
  } catch {
    return undefined
  }
}

export async function writeCertificate(dir: string, cert: string, key: string): Promise<void> {
  await writeAtomic(join(dir, 'tls.key'), key, 0o600)
  await writeAtomic(join(dir, 'tls.crt'), cert, 0o644)
}

export async function writeSecretFile(file: string, text: string): Promise<void> {
  await writeAtomic(file, text, 0o600)
}
