import type { Diagnostic } from './diagnostic.js'

/** `gateway.yaml:14:15 error PC1203 VirtualService default/neg spec.http[0].route[1].weight: msg` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.loc !== undefined ? `${d.loc.file}:${d.loc.line}:${d.loc.col} ` : ''
  const res =
    d.resource !== undefined ? ` ${d.resource.kind} ${d.resource.namespace}/${d.resource.name}` : ''
  const path = d.path !== undefined && d.path !== '' ? ` ${d.path}` : ''
  return `${where}${d.severity} ${d.code}${res}${path}: ${d.message}`
}

export function formatDiagnosticsText(diags: readonly Diagnostic[]): string {
  return diags.map(formatDiagnostic).join('\n')
}

export function formatDiagnosticsJson(diags: readonly Diagnostic[]): string {
  return JSON.stringify(
    {
      errors: diags.filter((d) => d.severity === 'error').length,
      warnings: diags.filter((d) => d.severity === 'warning').length,
      diagnostics: diags,
    },
    null,
    2,
  )
}

/** Stable order: by file, line, column, then code. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  return [...diags].sort(
    (a, b) =>
      (a.loc?.file ?? '').localeCompare(b.loc?.file ?? '') ||
      (a.loc?.line ?? 0) - (b.loc?.line ?? 0) ||
      (a.loc?.col ?? 0) - (b.loc?.col ?? 0) ||
      a.code.localeCompare(b.code),
  )
}
