/**
 * The certificate files a compiled config names, with where each was named. Not part of the
 * Snapshot (it does not change what is served, and stays out of the hash): runtime reads these
 * files after compiling and reports problems at the field that named them.
 */
import type { UpstreamTlsPolicy } from './cluster.js'

/** A field of a resource: `spec.servers[0].tls.credentialName` at file:line:col. */
export interface AssetOrigin {
  readonly resource: { readonly kind: string; readonly namespace: string; readonly name: string }
  readonly path: string
  readonly file: string
  readonly line: number
  readonly col: number
}

export interface AssetFile {
  readonly file: string
  readonly origin: AssetOrigin
}

/** One terminating Gateway server's TLS files. */
export interface ServerTlsAssets {
  /** `<gateway ns/name>/<port name>`, as the TLS chain. */
  readonly server: string
  /** Server hosts (namespace part dropped), lower-case: the certificates should cover them. */
  readonly hosts: readonly string[]
  readonly certificates: readonly { readonly cert: AssetFile; readonly key: AssetFile }[]
  readonly ca?: AssetFile
  /** `optional`: the CRL came with a credential (`ca.crl`) and may be absent. */
  readonly crl?: AssetFile & { readonly optional: boolean }
}

/**
 * One DestinationRule tls setting (top level, a port, a subset, a subset's port) with the files
 * it resolves to: checked whether or not a cluster uses it.
 */
export interface UpstreamTlsAssets {
  /** The rule's host as written. */
  readonly host: string
  readonly policy: UpstreamTlsPolicy
  /** The `tls` field that names the files. */
  readonly origin: AssetOrigin
}
