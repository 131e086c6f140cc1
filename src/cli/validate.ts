/**
 * `portcullis validate`: the same load and compile as `run`, printed. Exit 0 when there are no
 * errors (warnings are still printed), 1 when there are.
 */
import {
  formatDiagnosticsJson,
  formatDiagnosticsText,
  hasErrors,
  type Diagnostic,
} from '../diag/index.js'

export interface ValidateOptions {
  readonly paths: readonly string[]
  readonly format: 'text' | 'json'
  /** Loads and compiles; main wires this to runtime's buildSnapshot. */
  readonly check: (paths: readonly string[]) => { readonly diagnostics: readonly Diagnostic[] }
  readonly write: (text: string) => void
}

export function runValidate(opts: ValidateOptions): number {
  const { diagnostics } = opts.check(opts.paths)
  if (opts.format === 'json') {
    opts.write(`${formatDiagnosticsJson(diagnostics)}\n`)
  } else {
    if (diagnostics.length > 0) opts.write(`${formatDiagnosticsText(diagnostics)}\n`)
    opts.write(`${summary(diagnostics)}\n`)
  }
  return hasErrors(diagnostics) ? 1 : 0
}

/** `2 errors, 1 warning` */
export function summary(diagnostics: readonly Diagnostic[]): string {
  let errors = 0
  for (const d of diagnostics) if (d.severity === 'error') errors += 1
  const warnings = diagnostics.length - errors
  return `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
