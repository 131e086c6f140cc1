/**
 * Collects compile diagnostics. Every diagnostic points at a resource, a field path and its
 * file:line:col, so `portcullis validate` can show where to fix it. The same problem found
 * while compiling several listeners is reported once.
 */
import {
  CODES,
  formatPath,
  sortDiagnostics,
  type DiagCode,
  type Diagnostic,
} from '../diag/index.js'
import type * as istio from '../config/index.js'

export interface DiagSink {
  report(code: DiagCode, resource: istio.AnyResource, path: istio.Path, message: string): void
  /** Sorted by file, line, column and code. */
  drain(): Diagnostic[]
}

export function createDiagSink(): DiagSink {
  const seen = new Set<string>()
  const out: Diagnostic[] = []
  return {
    report(code, resource, path, message) {
      const { kind, metadata } = resource
      const p = formatPath(path)
      const key = `${code}\0${kind}/${metadata.namespace}/${metadata.name}\0${p}\0${message}`
      if (seen.has(key)) return
      seen.add(key)
      out.push({
        code,
        severity: CODES[code].severity,
        message,
        resource: { kind, namespace: metadata.namespace, name: metadata.name },
        path: p,
        loc: resource.origin.locate(path),
      })
    },
    drain: () => sortDiagnostics(out),
  }
}
