/**
 * Watches config files through their directories: editors save by writing a temporary file and
 * renaming it over the original, and Kubernetes ConfigMap volumes swap a `..data` symlink, so a
 * watch on the file itself would miss both. Events are debounced, and a reload is triggered only
 * when the content hash of the configured files changed. A half-written file just makes that
 * reload fail; the write that completes it changes the hash again and triggers the next one.
 *
 * When every event in a debounce window names a config file (a tenant file written, added or
 * removed in a watched directory), only those files are stat'ed and hashed, and the reload is
 * told which they are, so a write to one of 100 000 files reads and stats that one file. An
 * event without a name, a `..data` swap or a configured path itself replaced hash everything.
 */
import { watch, readdirSync, readFileSync, statSync, type FSWatcher } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { sha256Hex, type Logger } from '../lib/index.js'

export interface ConfigWatcherOptions {
  /** Config paths as given to `run -c`: files or directories. */
  readonly paths: readonly string[]
  /**
   * `changed`: the absolute paths of the only files that changed, when the events named them;
   * undefined when any config file may have (config/parse-cache.ts then stats every file).
   */
  readonly onChange: (changed?: ReadonlySet<string>) => void
  readonly logger: Logger
  /** Quiet time after the last event before the files are hashed. */
  readonly debounceMs?: number
  /** Upper bound on the delay while events keep arriving. */
  readonly maxWaitMs?: number
}

export interface ConfigWatcher {
  /** The directories being watched. */
  readonly directories: readonly string[]
  close(): void
}

const DEFAULT_DEBOUNCE_MS = 200
const CONFIG_FILE = /\.ya?ml$/

/** Which entry names in a watched directory can change the config. */
interface Interest {
  readonly names: Set<string>
  isYamlDirectory: boolean
}

export function watchConfig(opts: ConfigWatcherOptions): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS
  const maxWaitMs = opts.maxWaitMs ?? debounceMs * 10
  const interests = collectInterests(opts.paths)
  const watchers: FSWatcher[] = []
  // Keeps each file's digest by stamp: a change in one of 100 000 files reads that one file.
  const hasher = createConfigHasher()
  // undefined after a check of named files only: the next full check reloads whatever it finds.
  let lastHash: string | undefined = hasher.hash(opts.paths)
  let timer: NodeJS.Timeout | undefined
  let firstEventAt = 0
  let isClosed = false
  // Files the events since the last check named; 'all' when one did not name a file.
  let pending: Set<string> | 'all' = new Set()

  const check = (): void => {
    timer = undefined
    if (isClosed) return
    const named = pending
    pending = new Set()
    if (named !== 'all') {
      if (!hasher.update(named)) return
      lastHash = undefined
      opts.onChange(named)
      return
    }
    const hash = hasher.hash(opts.paths)
    if (hash === lastHash) return
    lastHash = hash
    opts.onChange()
  }

  const onEvent = (dir: string, interest: Interest, name: string | null): void => {
    if (isClosed || !isRelevant(interest, name)) return
    const file = name !== null ? namedFile(dir, interest, name) : undefined
    if (file === undefined) pending = 'all'
    else if (pending !== 'all' && file !== '') pending.add(file)
    const now = Date.now()
    if (timer === undefined) firstEventAt = now
    else clearTimeout(timer)
    const delay = Math.max(0, Math.min(debounceMs, firstEventAt + maxWaitMs - now))
    timer = setTimeout(check, delay)
  }

  for (const [dir, interest] of interests) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => onEvent(dir, interest, name))
      w.on('error', (e) => {
        opts.logger.warn('config watch failed; reload with SIGHUP', { directory: dir, error: e })
        w.close()
      })
      watchers.push(w)
    } catch (e) {
      opts.logger.warn('cannot watch config directory; reload with SIGHUP', {
        directory: dir,
        error: e,
      })
    }
  }

  return {
    directories: [...interests.keys()],
    close() {
      isClosed = true
      if (timer !== undefined) clearTimeout(timer)
      for (const w of watchers) w.close()
    },
  }
}

function collectInterests(paths: readonly string[]): Map<string, Interest> {
  const out = new Map<string, Interest>()
  const interest = (dir: string): Interest => {
    let i = out.get(dir)
    if (i === undefined) {
      i = { names: new Set(), isYamlDirectory: false }
      out.set(dir, i)
    }
    return i
  }
  for (const p of paths) {
    const abs = resolve(p)
    // The parent sees the path itself being replaced (rename over it, a symlink swap).
    interest(dirname(abs)).names.add(basename(abs))
    if (isDirectory(abs)) interest(abs).isYamlDirectory = true
  }
  return out
}

function isRelevant(interest: Interest, name: string | null): boolean {
  if (name === null) return true
  // `..data`, `..2024_01_01_...`: the Kubernetes atomic-writer's swap.
  if (name.startsWith('..')) return true
  if (interest.names.has(name)) return true
  return interest.isYamlDirectory && CONFIG_FILE.test(name)
}

/**
 * The config file an event in `dir` names: its absolute path, '' for a dot file (never config),
 * undefined when the event can change more than one file (a `..data` swap, a configured
 * directory itself replaced).
 */
function namedFile(dir: string, interest: Interest, name: string): string | undefined {
  if (name.startsWith('..')) return undefined
  const file = join(dir, name)
  if (interest.names.has(name) && isDirectory(file)) return undefined
  if (interest.names.has(name)) return file
  return name.startsWith('.') ? '' : file
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/**
 * Hash of the config files as config/ would read them (directories expand to their .yaml/.yml
 * entries, dot files skipped). An unreadable file hashes as its error, so it counts as a change.
 */
export function hashConfigFiles(paths: readonly string[]): string {
  return createConfigHasher().hash(paths)
}

/** A stamp this close (ms) to the file's last change is not trusted (file times tick coarsely). */
const RACY_MS = 2000

/**
 * hashConfigFiles with memory: a file whose inode, size, mtime and ctime are unchanged (and
 * older than the racy window) is not read again; its digest from last time stands in.
 */
export function createConfigHasher(now: () => number = Date.now): {
  hash(paths: readonly string[]): string
  /** Stats and hashes these (absolute) files only: true when one of them changed since. */
  update(files: Iterable<string>): boolean
} {
  let digests = new Map<string, { stamp: string; part: string }>()
  return {
    update(files) {
      const trustedBefore = now() - RACY_MS
      let changed = false
      for (const file of files) {
        const stamp = stampOf(file, trustedBefore)
        const hit = digests.get(file)
        if (stamp !== '' && hit !== undefined && hit.stamp === stamp) continue
        const p = readPart(file)
        // A file that neither was nor is there (an editor's temporary file) changes nothing.
        if (hit === undefined && p.endsWith('!ENOENT')) continue
        if (hit === undefined || hit.part !== p) changed = true
        // An untrusted ('') stamp is never matched, but its part still tells the next write.
        if (p.endsWith('!ENOENT')) digests.delete(file)
        else digests.set(file, { stamp, part: p })
      }
      return changed
    },
    hash(paths) {
      const next = new Map<string, { stamp: string; part: string }>()
      const trustedBefore = now() - RACY_MS
      const part = (file: string): string => {
        const stamp = stampOf(file, trustedBefore)
        const hit = digests.get(file)
        if (stamp !== '' && hit !== undefined && hit.stamp === stamp) {
          next.set(file, hit)
          return hit.part
        }
        const p = readPart(file)
        // Kept even when the stamp is untrusted: update() compares the part.
        next.set(file, { stamp, part: p })
        return p
      }
      const parts: string[] = []
      // Absolute, as update() is given the files the events name.
      for (const p of paths.map((q) => resolve(q))) {
        if (isDirectory(p)) {
          let names: string[] = []
          try {
            names = readdirSync(p).sort()
          } catch (e) {
            parts.push(`${p}\0!${errorCode(e)}`)
          }
          for (const n of names) {
            if (CONFIG_FILE.test(n) && !n.startsWith('.')) parts.push(part(join(p, n)))
          }
        } else {
          parts.push(part(p))
        }
      }
      digests = next
      return sha256Hex(parts.join('\0\0'))
    },
  }
}

/** '' when it cannot be trusted: too recent, or stat failed. */
function stampOf(file: string, trustedBefore: number): string {
  try {
    const st = statSync(file, { bigint: true })
    const changedMs = Number((st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs) / 1_000_000n)
    return changedMs >= trustedBefore ? '' : `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
  } catch {
    return ''
  }
}

function readPart(file: string): string {
  try {
    return `${file}\0${sha256Hex(readFileSync(file, 'utf8'))}`
  } catch (e) {
    return `${file}\0!${errorCode(e)}`
  }
}

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e)
}
