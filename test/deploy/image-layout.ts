// The image's filesystem as the Dockerfile lays it out, reproduced without a container engine:
// per top-level directory an overlay layer (read-only, over the host's own) holding the built
// code, the production node_modules and the files the final stage COPYs, at the image's paths.
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  statSync,
  symlinkSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative } from 'node:path'
import type { ImageSpec } from './dockerfile.js'

export interface ImageLayout {
  /** Temporary directory holding the layers (remove it when done). */
  readonly root: string
  /** image top-level directory (e.g. /opt) → the layer to put over it. */
  readonly layers: ReadonlyMap<string, string>
}

/** A host directory mounted read-only into the image (`docker run -v HOST:IMAGE:ro`). */
export interface Volume {
  readonly host: string
  readonly image: string
}

function newestMtime(dir: string): number {
  let newest = 0
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs)
  }
  return newest
}

/**
 * dist/ as `npm run build` makes it at `target`: a link to the repository's own if it is newer
 * than src/ (CI builds first), else compiled there (next to the node_modules link, so that
 * imports resolve from where the files really are).
 */
function placeDist(repoRoot: string, target: string): void {
  const dist = join(repoRoot, 'dist')
  const main = join(dist, 'main.js')
  if (existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(repoRoot, 'src'))) {
    symlinkSync(dist, target)
    return
  }
  const out = target
  execFileSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      out,
    ],
    { cwd: repoRoot, stdio: 'inherit', timeout: 600_000 },
  )
  chmodSync(out, 0o755)
}

export function layImage(
  repoRoot: string,
  spec: ImageSpec,
  volumes: readonly Volume[] = [],
): ImageLayout {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-image-'))
  // The image's user must be able to read its files.
  chmodSync(root, 0o755)
  const layers = new Map<string, string>()
  const place = (imagePath: string): string => {
    const top = `/${imagePath.split('/')[1]!}`
    let layer = layers.get(top)
    if (layer === undefined) {
      layer = join(root, 'layers', top.slice(1))
      mkdirSync(layer, { recursive: true, mode: 0o755 })
      layers.set(top, layer)
    }
    const target = join(layer, relative(top, imagePath))
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 })
    return target
  }
  placeDist(repoRoot, place(join(spec.workdir, 'dist')))
  symlinkSync(join(repoRoot, 'node_modules'), place(join(spec.workdir, 'node_modules')))
  for (const { from, to } of spec.copies) {
    const absolute = to.startsWith('/') ? to : join(spec.workdir, to)
    const dest = to.endsWith('/') || to === '.' ? join(absolute, basename(from)) : absolute
    copyFileSync(join(repoRoot, from), place(dest))
    chmodSync(place(dest), 0o644)
  }
  // A volume's mount point, as the engine creates it when the image lacks the directory.
  for (const v of volumes) mkdirSync(place(v.image), { recursive: true, mode: 0o755 })
  return { root, layers }
}

/**
 * A shell script (run as root in a fresh mount namespace) that puts the layers over their
 * directories, makes the root filesystem read-only, drops to the image's user and execs `argv`
 * from the image's WORKDIR.
 */
export function enterImageScript(
  layout: ImageLayout,
  spec: ImageSpec,
  argv: string[],
  volumes: readonly Volume[] = [],
): string {
  const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`
  const lines = ['set -e']
  for (const [top, layer] of layout.layers) {
    lines.push(`mount -t overlay overlay -o lowerdir=${layer}:${top} ${top}`)
  }
  for (const v of volumes) lines.push(`mount --bind -o ro ${q(v.host)} ${q(v.image)}`)
  lines.push('mount -o remount,bind,ro /')
  lines.push(`cd ${q(spec.workdir)}`)
  lines.push(
    `exec setpriv --reuid=${spec.user.uid} --regid=${spec.user.gid} --clear-groups --no-new-privs -- ${argv.map(q).join(' ')}`,
  )
  return lines.join('\n')
}
