/** JSON shapes the admin API returns for reload outcomes and diagnostics. */
import type { Diagnostic } from '../diag/index.js'
import type { ReloadOutcome } from '../runtime/index.js'

export interface DiagnosticsJson {
  readonly errors: number
  readonly warnings: number
  readonly diagnostics: readonly Diagnostic[]
}

export function diagnosticsJson(diagnostics: readonly Diagnostic[]): DiagnosticsJson {
  let errors = 0
  for (const d of diagnostics) if (d.severity === 'error') errors += 1
  return { errors, warnings: diagnostics.length - errors, diagnostics }
}

export function outcomeJson(o: ReloadOutcome): Record<string, unknown> {
  return {
    result: o.result,
    trigger: o.trigger,
    version: o.version,
    hash: o.hash ?? null,
    at: new Date(o.at).toISOString(),
    durationMs: o.durationMs,
    ...(o.error !== undefined ? { error: o.error } : {}),
    ...diagnosticsJson(o.diagnostics),
  }
}
