import { createHash } from 'node:crypto'

/** JSON with object keys sorted, so equal values always serialise to the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k]
      return out
    }
    return v
  })
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
