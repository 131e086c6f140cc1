// The YAML files the position and fast-path tests compare parsers on: the golden configs and
// the Istio samples (valid and invalid), found under the working directory (the repo root).
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { isMap, isPair, isScalar, isSeq } from 'yaml'

const ROOTS = ['test/golden/config', 'test/golden/compile', '../shared/istio-samples']

function yamlFiles(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names.flatMap((n) => {
    const p = join(dir, n)
    if (statSync(p).isDirectory()) return yamlFiles(p)
    return /\.ya?ml$/.test(n) ? [p] : []
  })
}

export function configCorpusFiles(): string[] {
  return ROOTS.flatMap(yamlFiles)
}

/**
 * Every path to a node of a `yaml` document (`doc.contents`), plus a missing child under each
 * (the fallback to the parent): what a position index is asked.
 */
export function nodePaths(node: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix, [...prefix, 'no-such-field'], [...prefix, 99]]
  if (isMap(node)) {
    for (const item of node.items) {
      if (isPair(item) && isScalar(item.key)) {
        const k = item.key.value
        out.push(...nodePaths(item.value, [...prefix, typeof k === 'number' ? k : String(k)]))
      }
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => out.push(...nodePaths(item, [...prefix, i])))
  }
  return out
}
