/**
 * The keys of a position index (positions.ts): one flat string per field path, the same few for
 * every resource of a kind (`spec` `http` 0), interned so every index shares them instead of
 * holding a concatenation per resource. Both parsers (the `yaml` package's documents and the fast
 * path in fast-yaml.ts) build their indexes with these, so the two cannot key a path differently.
 */

/** Depth of the paths a position index answers itself; deeper ones parse the document again. */
export const INDEXED_DEPTH = 3
/** Map children are keyed `k<key>`, sequence items `n<index>`, so `"0"` and `0` stay distinct. */
const SEP = '\u0001'

// Bounded: user map keys (labels, say) are paths too, and the table lives as long as the process.
const keys = new Map<string, string>()
const MAX_KEYS = 50_000
function intern(key: string): string {
  const known = keys.get(key)
  if (known !== undefined) return known
  if (keys.size < MAX_KEYS) keys.set(key, key)
  return key
}

/** The key of map child `key` under the path keyed `prefix` ('' for the document's root). */
export function mapChildKey(prefix: string, key: string): string {
  return intern(`${prefix}${SEP}k${key}`)
}

/** The key of sequence item `i` under the path keyed `prefix`. */
export function seqItemKey(prefix: string, i: number): string {
  return intern(`${prefix}${SEP}n${i}`)
}

/** Lookup keys (not interned: a lookup must not grow the table). */
export function lookupKey(prefix: string, seg: string | number, asItem: boolean): string {
  return asItem ? `${prefix}${SEP}n${seg}` : `${prefix}${SEP}k${String(seg)}`
}
