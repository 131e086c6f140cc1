/**
 * load → compile → check the certificate files, stopping at the first stage that reports
 * errors. Shared by reloads, the first start and `portcullis validate`, so all three judge a
 * config the same way.
 */
import { loadConfig, type LoadResult, type ResourceSet } from '../config/index.js'
import { hasErrors, sortDiagnostics, type Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import { checkTlsAssets } from './tls-assets.js'

export type CompileFn = (resources: ResourceSet) => {
  readonly snapshot: ir.Snapshot
  readonly diagnostics: readonly Diagnostic[]
  /** Certificate files to read and check (compile itself does no I/O). */
  readonly assets?: readonly ir.ServerTlsAssets[]
}

export type LoadFn = (paths: readonly string[]) => LoadResult

interface BuildCommon {
  readonly diagnostics: readonly Diagnostic[]
  readonly sourceHash: string
  readonly files: readonly string[]
}

export type BuildResult =
  | (BuildCommon & { readonly ok: true; readonly snapshot: ir.Snapshot })
  | (BuildCommon & { readonly ok: false })

export function buildSnapshot(
  paths: readonly string[],
  compile: CompileFn,
  load: LoadFn = loadConfig,
): BuildResult {
  const loaded = load(paths)
  const source = { sourceHash: loaded.sourceHash, files: loaded.files }
  if (hasErrors(loaded.diagnostics)) {
    return { ok: false, diagnostics: loaded.diagnostics, ...source }
  }
  const compiled = compile(loaded.resources)
  if (hasErrors(compiled.diagnostics)) {
    const diagnostics = sortDiagnostics([...loaded.diagnostics, ...compiled.diagnostics])
    return { ok: false, diagnostics, ...source }
  }
  const assetDiagnostics = checkTlsAssets(compiled.assets ?? [])
  const diagnostics = sortDiagnostics([
    ...loaded.diagnostics,
    ...compiled.diagnostics,
    ...assetDiagnostics,
  ])
  if (hasErrors(assetDiagnostics)) return { ok: false, diagnostics, ...source }
  return { ok: true, snapshot: compiled.snapshot, diagnostics, ...source }
}
