/** GatewayConfig `workers`: a positive integer or `auto` (one worker per available CPU). */
import { any, INVALID, type Schema } from './dsl.js'

const MAX_WORKERS = 1024

export const workerCount: Schema<number | 'auto'> = {
  ...any(`integer 1..${MAX_WORKERS} | auto`),
  parse(v, ctx, path) {
    if (v === 'auto') return v
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_WORKERS) return v
    ctx.issues.push({
      code: typeof v === 'number' ? 'PC1105' : 'PC1102',
      path,
      message: `expected an integer from 1 to ${MAX_WORKERS} or "auto", got ${JSON.stringify(v)}`,
    })
    return INVALID
  },
}
