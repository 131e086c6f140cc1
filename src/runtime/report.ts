import { formatDiagnostic, type Diagnostic } from '../diag/index.js'
import type { Logger } from '../lib/index.js'

/** One log line per diagnostic, `file:line:col severity CODE ...`, at its severity. */
export function logDiagnostics(logger: Logger, diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    if (d.severity === 'error') logger.error(formatDiagnostic(d))
    else logger.warn(formatDiagnostic(d))
  }
}
