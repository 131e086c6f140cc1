/**
 * The parts of undici the data plane uses, loaded from their own files. undici's index also loads
 * fetch, WebSocket, EventSource, the cache and the mocks, which cost an idle gateway about 6 MB
 * of resident memory and are never called here. The objects are the very ones the index exports
 * (Node's module cache is keyed by file), so `instanceof` against the package's errors holds;
 * undici.test.ts checks that, so an upgrade that moves these files fails the tests, not a request.
 */
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const load = createRequire(import.meta.url)

export const Pool = load('undici/lib/dispatcher/pool.js') as typeof Undici.Pool
export type Pool = Undici.Pool
export const errors = load('undici/lib/core/errors.js') as typeof Undici.errors
export const util = load('undici/lib/core/util.js') as typeof Undici.util
