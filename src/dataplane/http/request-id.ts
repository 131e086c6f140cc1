import { randomFillSync } from 'node:crypto'

/**
 * x-request-id for a request that came without one: a random (version 4) UUID, as Envoy
 * generates. node's randomUUID() builds its 36 characters by 20 string concatenations, a rope
 * that is flattened again when the id is written into the upstream head; here the characters
 * are written into one buffer and read out as a single flat string. The random bytes come
 * from the same CSPRNG, drawn in batches as randomUUID draws them.
 */
const BATCH = 128
const pool = Buffer.alloc(16 * BATCH)
let next = BATCH
const out = Buffer.alloc(36)
const HEX = Buffer.from('0123456789abcdef', 'latin1')
/** Where each of the 16 bytes' two hex digits go (8-4-4-4-12, dashes between). */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
out[8] = out[13] = out[18] = out[23] = 0x2d

export function newRequestId(): string {
  if (next === BATCH) {
    randomFillSync(pool)
    next = 0
  }
  const base = 16 * next++
  for (let i = 0; i < 16; i++) {
    let b = pool[base + i]!
    // RFC 9562: version 4 in byte 6's high nibble, variant 10 in byte 8's top bits.
    if (i === 6) b = (b & 0x0f) | 0x40
    else if (i === 8) b = (b & 0x3f) | 0x80
    const at = AT[i]!
    out[at] = HEX[b >> 4]!
    out[at + 1] = HEX[b & 0x0f]!
  }
  return out.toString('latin1', 0, 36)
}
