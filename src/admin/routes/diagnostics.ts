/** GET /diagnostics: what the last load attempt reported, and how that attempt ended. */
import type { FastifyInstance } from 'fastify'
import type { RuntimeView } from '../../runtime/index.js'
import { diagnosticsJson, outcomeJson } from '../outcome-json.js'

export function registerDiagnostics(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/diagnostics', () => {
    const s = runtime.snapshots
    return {
      version: s.active?.version ?? 0,
      reloadFailures: s.failures,
      lastSuccessAt: s.lastSuccessAt !== undefined ? new Date(s.lastSuccessAt).toISOString() : null,
      lastReload: s.lastReload !== undefined ? outcomeJson(s.lastReload) : null,
      ...diagnosticsJson(s.lastDiagnostics),
    }
  })
}
