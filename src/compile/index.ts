/**
 * compile/: validated Istio resources → the Snapshot IR the data plane serves. A pure function;
 * see docs/adr/0001-typed-ir-and-pure-compiler.md.
 */
export { compile, createIncrementalCompile } from './compile.js'
export { snapshotHash } from './snapshot-hash.js'
