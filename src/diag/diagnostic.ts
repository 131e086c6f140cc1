import type { DiagCode } from './codes.js'
import type { Severity } from './severity.js'

export type { Severity }

/** Where a diagnostic points: a file and a 1-based line and column. */
export interface Loc {
  readonly file: string
  readonly line: number
  readonly col: number
}

export interface ResourceRef {
  readonly kind: string
  readonly namespace: string
  readonly name: string
}

/** A config problem. Problems are values, never exceptions (docs/diagnostics.md lists every code). */
export interface Diagnostic {
  readonly code: DiagCode
  readonly severity: Severity
  readonly message: string
  readonly resource?: ResourceRef
  /** Field path inside the resource, e.g. `spec.http[0].route[1].weight`. */
  readonly path?: string
  readonly loc?: Loc
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error')
}

/** Renders a field path as users read it: `spec.http[0].route[1].weight`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = ''
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`
    else if (/^[A-Za-z_][\w-]*$/.test(p)) out += out === '' ? p : `.${p}`
    else out += `[${JSON.stringify(p)}]`
  }
  return out
}
