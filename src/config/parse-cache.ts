/**
 * The config loader `run` keeps across reloads: each file is parsed and validated once, and
 * again only when it changed. A file whose inode, size, mtime and ctime are as last time is not
 * read at all (a directory of 100 000 tenant files reloads by reading the one that was written);
 * a file that was written but has the same bytes keeps its parsed resources too. The checks
 * across resources (references, conflicts) run on the whole set every time, through the same
 * `assemble` as a cold load, so the result equals what `loadConfig` gives for the same files.
 */
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Diagnostic } from '../diag/index.js'
import { sha256Hex } from '../lib/index.js'
import { assemble, parseFile, type LoadResult, type ParsedFile } from './assemble.js'
import { collectConfigFiles, readSource } from './load.js'

export interface ConfigLoader {
  /**
   * `changed`: the absolute paths of the only files that can have changed since the last load
   * (what the file watcher saw events for). A file kept from the last load with a trusted stamp
   * and not among them is not even stat'ed; without it, every file is.
   */
  readonly load: (paths: readonly string[], changed?: ReadonlySet<string>) => LoadResult
  /** Files the last load read (their stamp changed, or was too recent to trust). */
  readonly lastRead: readonly string[]
  /** Files the last load parsed (their bytes changed): what a reload touched. */
  readonly lastParsed: readonly string[]
}

export interface ConfigLoaderOptions {
  /**
   * A stamp taken this close (ms) to the file's last change is not trusted next time: file
   * times tick coarsely (a few ms), so a second same-size write in the same tick would keep the
   * stamp. Such files are read and digested again until they are older (git's "racy clean").
   */
  readonly racyMs?: number
  readonly now?: () => number
}

const DEFAULT_RACY_MS = 2000

interface Entry {
  /** inode, size, mtime and ctime in nanoseconds: unchanged means not read again. */
  readonly stamp: string
  readonly parsed: ParsedFile
  /** The file's absolute path, as the watcher names changed files. */
  readonly path: string
}

/** The file's stamp, '' when too recent to trust, undefined when it cannot be stat'ed. */
function stampOf(path: string, trustedBefore: number): string | undefined {
  try {
    const st = statSync(path, { bigint: true })
    const changedMs = Number((st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs) / 1_000_000n)
    if (changedMs >= trustedBefore) return ''
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
  } catch {
    return undefined
  }
}

export function createConfigLoader(opts: ConfigLoaderOptions = {}): ConfigLoader {
  const racyMs = opts.racyMs ?? DEFAULT_RACY_MS
  const now = opts.now ?? Date.now
  let cache = new Map<string, Entry>()
  let lastRead: string[] = []
  let lastParsed: string[] = []
  // A load that threw left the cache behind the files: the next one trusts no hint.
  let isComplete = false
  return {
    get lastRead() {
      return lastRead
    },
    get lastParsed() {
      return lastParsed
    },
    load: (paths, hint) => {
      const changed = isComplete ? hint : undefined
      isComplete = false
      const diags: Diagnostic[] = []
      const files = collectConfigFiles(paths, diags)
      const next = new Map<string, Entry>()
      const parsed: ParsedFile[] = []
      lastRead = []
      lastParsed = []
      const trustedBefore = now() - racyMs
      for (const file of files) {
        const hit = cache.get(file)
        if (
          changed !== undefined &&
          hit !== undefined &&
          hit.stamp !== '' &&
          !changed.has(hit.path)
        ) {
          next.set(file, hit)
          parsed.push(hit.parsed)
          continue
        }
        // The stamp is taken before reading: a write after it changes it for the next load.
        const stamp = stampOf(file, trustedBefore)
        if (stamp !== undefined && stamp !== '' && hit !== undefined && hit.stamp === stamp) {
          next.set(file, hit)
          parsed.push(hit.parsed)
          continue
        }
        const source = readSource(file, diags)
        if (source === undefined) continue
        lastRead.push(source.display)
        const digest = sha256Hex(source.text)
        if (stamp === undefined) {
          // Read although stat failed (a race with a rename): parse it, do not keep it.
          parsed.push(parseFile(source, digest))
          lastParsed.push(source.display)
          continue
        }
        let entry: Entry
        if (hit !== undefined && hit.parsed.digest === digest) {
          entry = { stamp, parsed: hit.parsed, path: hit.path }
        } else {
          entry = { stamp, parsed: parseFile(source, digest), path: resolve(file) }
          lastParsed.push(source.display)
        }
        next.set(file, entry)
        parsed.push(entry.parsed)
      }
      // Removed files leave the cache with their resources.
      cache = next
      isComplete = true
      return assemble(parsed, diags)
    },
  }
}
