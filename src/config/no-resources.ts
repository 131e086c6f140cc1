/**
 * A config without a single resource (an empty file, only comments or `---`) is an error, not
 * an empty configuration: applied, it would remove every listener and move admin, readiness and
 * metrics back to their defaults. `: > gateway.yaml`, or an editor caught between truncating and
 * writing, must leave a running gateway on its last good config.
 */
import type { Diagnostic } from '../diag/index.js'
import type { SourceFile } from './load.js'

export function noResourcesDiagnostic(sources: readonly SourceFile[]): Diagnostic {
  const names = sources.map((s) => s.display)
  const subject = names.length === 1 ? `${names[0]} has` : `${names.join(', ')} have`
  return {
    code: 'PC1009',
    severity: 'error',
    message: `${subject} no documents (empty, or only comments and ---): the gateway would serve nothing`,
    ...(names[0] !== undefined ? { loc: { file: names[0], line: 1, col: 1 } } : {}),
  }
}
