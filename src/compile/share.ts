/**
 * One object per distinct value: thousands of tenants' routes carry the same retry policy,
 * header rules and destinations, and each kept its own copy (about a kilobyte a route). Parts
 * are compared by canonical JSON and are never changed once compiled (the snapshot is frozen),
 * so sharing them changes neither the snapshot's JSON nor its hash. Held weakly: a value no
 * route holds any more leaves the table.
 */
import { canonicalJson } from '../lib/index.js'

const table = new Map<string, WeakRef<object>>()
const registry = new FinalizationRegistry<string>((key) => {
  if (table.get(key)?.deref() === undefined) table.delete(key)
})

// The canonical JSON of each shared object (its key in the table), so that writing a value that
// holds it (a route's digest, a larger part) copies the text instead of serialising it again.
const texts = new WeakMap<object, string>()

/** The canonical JSON of `o` when it is a shared part, else undefined. */
export function sharedJson(o: object): string | undefined {
  return texts.get(o)
}

export function share<T extends object>(value: T): T {
  const key = canonicalJson(value, sharedJson)
  const known = table.get(key)?.deref()
  if (known !== undefined) return known as T
  table.set(key, new WeakRef(value))
  texts.set(value, key)
  registry.register(value, key)
  return value
}
