import { createHash } from 'node:crypto'

export { canonicalJson } from './canonical-json.js'

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
