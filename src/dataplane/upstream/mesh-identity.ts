/**
 * The mesh identity files (GatewayConfig spec.meshIdentity) as a value that follows rotation:
 * the three files' directories are watched, and the first new upstream connection after a
 * change reads them again. Established connections keep the identity they were made with, as
 * Envoy's SDS rotation does. A set of files that does not load (a half-written rotation: a new
 * certificate with the old key) leaves the previous identity in use until a later change loads.
 *
 * One instance per set of files for the whole process, shared by every cluster and snapshot;
 * the watchers do not keep the process alive.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync, watch } from 'node:fs'
import { dirname } from 'node:path'
import { createSecureContext } from 'node:tls'
import type { Logger } from '../../lib/index.js'

export interface MeshIdentityPaths {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
}

export interface MeshIdentityMaterial {
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca: Buffer
  /** Serial of the leaf certificate (upper-case hex), for logs. */
  readonly serial: string
  /** Increments with each identity that loaded. */
  readonly version: number
}

export class MeshIdentitySource {
  readonly paths: MeshIdentityPaths
  #current: MeshIdentityMaterial
  #dirty = false
  readonly #log: Logger

  /** Reads the files now: a missing or broken one throws (the reload that needs it fails). */
  constructor(paths: MeshIdentityPaths, log: Logger) {
    this.paths = paths
    this.#log = log
    this.#current = readMaterial(paths, 1)
    const dirs = new Set([paths.certFile, paths.keyFile, paths.caFile].map((f) => dirname(f)))
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => {
          this.#dirty = true
        })
        w.on('error', () => {
          this.#dirty = true
        })
      } catch (err) {
        log.warn('mesh identity directory cannot be watched; rotation needs a reload', {
          dir,
          err,
        })
      }
    }
  }

  /** The identity for a new connection. */
  current(): MeshIdentityMaterial {
    if (!this.#dirty) return this.#current
    this.#dirty = false
    const before = this.#current
    try {
      const next = readMaterial(this.paths, before.version + 1)
      if (next.cert.equals(before.cert) && next.key.equals(before.key) && next.ca.equals(before.ca))
        return before
      this.#current = next
      this.#log.info('mesh identity rotated', {
        certChain: this.paths.certFile,
        serial: next.serial,
        previousSerial: before.serial,
      })
    } catch (err) {
      this.#log.warn('mesh identity reload failed; the previous identity keeps serving', {
        certChain: this.paths.certFile,
        err,
      })
    }
    return this.#current
  }
}

function readMaterial(paths: MeshIdentityPaths, version: number): MeshIdentityMaterial {
  const cert = readFileSync(paths.certFile)
  const key = readFileSync(paths.keyFile)
  const ca = readFileSync(paths.caFile)
  // Throws on bad PEM or a key that is not the certificate's.
  createSecureContext({ cert, key, ca })
  const serial = new X509Certificate(cert).serialNumber
  return { cert, key, ca, serial, version }
}

const sources = new Map<string, MeshIdentitySource>()

/** The process-wide source for these files, created (and read) on first use. */
export function meshIdentitySource(paths: MeshIdentityPaths, log: Logger): MeshIdentitySource {
  const id = `${paths.certFile}\0${paths.keyFile}\0${paths.caFile}`
  let s = sources.get(id)
  if (s === undefined) {
    s = new MeshIdentitySource(paths, log)
    sources.set(id, s)
  }
  return s
}
