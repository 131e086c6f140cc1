/**
 * load → compile → check the certificate files, stopping at the first stage that reports
 * errors. Shared by reloads, the first start and `portcullis validate`, so all three judge a
 * config the same way.
 */
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { loadConfig, type LoadResult, type ResourceSet } from '../config/index.js'
import { hasErrors, sortDiagnostics, type Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import { checkTlsAssets } from './tls-assets.js'
import { checkUpstreamTlsFiles } from './upstream-tls-files.js'

export type CompileFn = (resources: ResourceSet) => {
  readonly snapshot: ir.Snapshot
  readonly diagnostics: readonly Diagnostic[]
  /** Certificate files to read and check (compile itself does no I/O). */
  readonly assets?: readonly ir.ServerTlsAssets[]
  /** Every DestinationRule's TLS origination files (compile/upstream-tls-assets.ts). */
  readonly upstreamTls?: readonly ir.UpstreamTlsAssets[]
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
  const assetDiagnostics = [
    ...checkTlsAssets(withoutPendingAcme(compiled.assets ?? [], compiled.snapshot.acme)),
    ...checkUpstreamTlsFiles(Object.values(compiled.snapshot.clusters), compiled.upstreamTls ?? []),
  ]
  const diagnostics = sortDiagnostics([
    ...loaded.diagnostics,
    ...compiled.diagnostics,
    ...assetDiagnostics,
  ])
  if (hasErrors(assetDiagnostics)) return { ok: false, diagnostics, ...source }
  return { ok: true, snapshot: compiled.snapshot, diagnostics, ...source }
}

/**
 * A credential an ACME Certificate fills has no files before its first issuance; that is not an
 * error (run serves a temporary certificate until the order completes, see acme/).
 */
function withoutPendingAcme(
  assets: readonly ir.ServerTlsAssets[],
  acme: ir.AcmePlan | undefined,
): readonly ir.ServerTlsAssets[] {
  if (acme === undefined) return assets
  const dirs = new Set(acme.certificates.map((c) => c.dir))
  return assets.map((a) => ({
    ...a,
    certificates: a.certificates.filter(
      (p) => !(dirs.has(dirname(p.cert.file)) && !existsSync(p.cert.file)),
    ),
  }))
}
