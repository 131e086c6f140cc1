/**
 * A CommonJS dependency loaded the first time it is used rather than at start-up: acme-client,
 * ioredis and the trace exporters cost a gateway that never uses them about 25 MB of resident
 * memory and their load time. Node's ESM loader resolves these packages to the same CommonJS
 * files `require` does, so there is one instance of each whichever way it was reached.
 */
import { createRequire } from 'node:module'

const load = createRequire(import.meta.url)

// T is the module's type (`typeof import(id)`), which only the caller can name.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function lazyModule<T>(id: string): () => T {
  let loaded: T | undefined
  return () => (loaded ??= load(id) as T)
}
