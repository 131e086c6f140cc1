/**
 * JSON with object keys sorted, so equal values always serialise to the same bytes: what the
 * snapshot hash, the route dedup and the sharing of compiled parts compare by. It writes the text
 * directly, where `JSON.stringify` with a replacer made a sorted copy of every object first (at
 * 100 000 VirtualServices those copies were a fifth of `validate`, and as much again in garbage
 * collection). The bytes are exactly those of
 *
 *   JSON.stringify(value, (_k, v) => isPlainObject(v) ? sortedCopy(v) : v)
 *
 * (canonical-json.test.ts compares the two), including its key order: a copy made by inserting
 * the sorted keys lists array-index keys first, in numeric order, as every JS object does.
 */

/**
 * The text to write for an object instead of serialising it, or undefined to serialise it: the
 * canonical JSON already known for a shared part (compile/share.ts), or what stands for a route
 * in the snapshot hash (compile/snapshot-hash.ts).
 */
export type WrittenAs = (o: object) => string | undefined

export function canonicalJson(value: unknown, written?: WrittenAs): string {
  // JSON.stringify gives undefined for an unserialisable root (undefined, a function).
  return write(value, '', written) as string
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/
const MAX_INDEX = 4294967295

function isArrayIndex(k: string): boolean {
  return ARRAY_INDEX.test(k) && Number(k) < MAX_INDEX
}

/** The keys in the order the sorted copy would list them. */
function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj).sort()
  let indexes = 0
  // Only a key starting with a digit can be an array index (the common case tests no regex).
  for (const k of keys) {
    const c = k.charCodeAt(0)
    if (c >= 0x30 && c <= 0x39 && isArrayIndex(k)) indexes++
  }
  if (indexes === 0) return keys
  const numeric = keys.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b))
  return [...numeric, ...keys.filter((k) => !isArrayIndex(k))]
}

/** The JSON text of `v` as the property `key`, or undefined where JSON.stringify leaves it out. */
function write(v: unknown, key: string, written: WrittenAs | undefined): string | undefined {
  if (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as { toJSON?: unknown }).toJSON === 'function'
  ) {
    v = (v as { toJSON: (k: string) => unknown }).toJSON(key)
  }
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v)
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null'
    case 'boolean':
      return v ? 'true' : 'false'
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt')
    case 'object':
      break
    default:
      return undefined // undefined, functions, symbols
  }
  if (v === null) return 'null'
  const known = written?.(v)
  if (known !== undefined) return known
  if (Array.isArray(v)) {
    let out = '['
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ','
      out += write(v[i], String(i), written) ?? 'null'
    }
    return out + ']'
  }
  let out = '{'
  let first = true
  for (const k of sortedKeys(v)) {
    const s = write((v as Record<string, unknown>)[k], k, written)
    if (s === undefined) continue
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + s
    first = false
  }
  return out + '}'
}
