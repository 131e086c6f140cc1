/**
 * config/: YAML files → validated Istio resources + diagnostics. The only public surface is
 * loadConfig (files) and loadConfigText (in-memory, for tests and describe).
 */
import type { Diagnostic } from '../diag/index.js'
import { assemble, parseFile, type LoadResult } from './assemble.js'
import { collectConfigFiles, readSource, type SourceFile } from './load.js'

export type * from './types.js'
export * as schema from './schema/index.js'
export { istioMutualUses, meshIdentityFiles, MESH_IDENTITY_DEFAULTS } from './mesh-identity.js'
export type { IstioMutualUse, MeshIdentityFiles } from './mesh-identity.js'

export type { LoadResult, ParsedFile } from './assemble.js'

export function loadConfig(paths: readonly string[]): LoadResult {
  const diags: Diagnostic[] = []
  const files = collectConfigFiles(paths, diags)
  const sources: SourceFile[] = []
  for (const f of files) {
    const s = readSource(f, diags)
    if (s !== undefined) sources.push(s)
  }
  return loadSources(sources, diags)
}

/** Loads config from memory: `{ 'gateway.yaml': text }`. */
export function loadConfigText(files: Readonly<Record<string, string>>): LoadResult {
  const sources = Object.entries(files).map(([name, text]) => ({
    display: name,
    absolute: name,
    text,
  }))
  return loadSources(sources, [])
}

function loadSources(sources: readonly SourceFile[], diags: Diagnostic[]): LoadResult {
  return assemble(
    sources.map((s) => parseFile(s)),
    diags,
  )
}

export { issuerOf, solverFor } from './semantic/index.js'
export { createConfigLoader, type ConfigLoader } from './parse-cache.js'
