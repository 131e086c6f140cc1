/**
 * Private keys at rest in a shared store are sealed with AES-256-GCM under a key only the
 * gateways hold (a file: 32 random bytes, base64 or hex). The store's key name is the
 * additional authenticated data, so a sealed value copied under another name does not open.
 * Format: `v1.<iv>.<tag>.<ciphertext>`, each base64url.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'

export interface Sealer {
  seal(plain: string, name: string): string
  open(sealed: string, name: string): string
}

export function parseKey(text: string): Buffer {
  const t = text.trim()
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64')
  if (key.length !== 32) {
    throw new Error(
      'the ACME encryption key must be 32 bytes, base64 or hex (openssl rand -base64 32)',
    )
  }
  return key
}

export function sealerFromFile(file: string): Sealer {
  return createSealer(parseKey(readFileSync(file, 'utf8')))
}

export function createSealer(key: Buffer): Sealer {
  return {
    seal(plain, name) {
      const iv = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', key, iv)
      c.setAAD(Buffer.from(name))
      const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()])
      return ['v1', iv, c.getAuthTag(), ct]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.')
    },
    open(sealed, name) {
      const [v, iv, tag, ct] = sealed.split('.')
      if (v !== 'v1' || iv === undefined || tag === undefined || ct === undefined) {
        throw new Error(`${name}: not a sealed value`)
      }
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      d.setAAD(Buffer.from(name))
      d.setAuthTag(Buffer.from(tag, 'base64url'))
      try {
        return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8')
      } catch {
        throw new Error(`${name}: cannot be opened with this encryption key`)
      }
    },
  }
}
