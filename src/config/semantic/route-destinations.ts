/** Destination and weight rules shared by HTTP, TLS and TCP routes. */
import type { Destination, Path } from '../types.js'
import { isDnsLabel } from './names.js'
import { at, type Report } from './report.js'

export function checkDestination(d: Destination, path: Path, report: Report): void {
  if (d.subset !== undefined && !isDnsLabel(d.subset)) {
    report(
      'PC1104',
      at(path, 'subset'),
      `subset name is invalid: ${d.subset} (lower-case letters, digits and '-')`,
    )
  }
}

/**
 * Weights are relative. Istio rejects negative weights, and with more than one destination a
 * total of 0 (every destination would be skipped).
 */
export function checkWeights(
  dests: readonly { readonly weight?: number }[],
  path: Path,
  report: Report,
): void {
  let total = 0
  dests.forEach((d, j) => {
    const w = d.weight ?? 0
    if (w < 0) report('PC1203', at(path, j, 'weight'), 'weight must be >= 0')
    total += w
  })
  if (dests.length > 1 && total === 0) {
    report(
      'PC1202',
      path,
      'total destination weight = 0: with more than one destination, give at least one a weight above 0',
    )
  }
}
