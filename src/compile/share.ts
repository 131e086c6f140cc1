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

export function share<T extends object>(value: T): T {
  const key = canonicalJson(value)
  const known = table.get(key)?.deref()
  if (known !== undefined) return known as T
  table.set(key, new WeakRef(value))
  registry.register(value, key)
  return value
}
