// What the final stage of the Dockerfile says the image is: where it works, as whom, what it
// runs and which files it copies from the repository. Tests read it from here so that a changed
// Dockerfile changes what they run.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ImageSpec {
  workdir: string
  user: { uid: number; gid: number }
  entrypoint: string[]
  cmd: string[]
  healthcheck: string[]
  exposed: number[]
  /** COPY <repo path> <image path> of the final stage (not --from=build). */
  copies: { from: string; to: string }[]
}

function jsonArray(line: string, keyword: string): string[] {
  const text = line.slice(line.indexOf(keyword) + keyword.length).trim()
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
    throw new Error(`${keyword} is not an exec-form JSON array: ${line}`)
  }
  return parsed
}

export function readImageSpec(repoRoot: string): ImageSpec {
  const lines = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8').split('\n')
  const stages = lines.flatMap((l, i) => (/^FROM\s/i.test(l) ? [i] : []))
  const final = lines.slice(stages.at(-1) ?? 0).map((l) => l.trim())
  const spec: Partial<ImageSpec> & { copies: ImageSpec['copies']; exposed: number[] } = {
    copies: [],
    exposed: [],
  }
  for (const line of final) {
    const [word = ''] = line.split(/\s+/)
    switch (word.toUpperCase()) {
      case 'WORKDIR':
        spec.workdir = line.split(/\s+/)[1]!
        break
      case 'USER': {
        const [uid, gid] = line.split(/\s+/)[1]!.split(':')
        spec.user = { uid: Number(uid), gid: Number(gid ?? uid) }
        break
      }
      case 'ENTRYPOINT':
        spec.entrypoint = jsonArray(line, 'ENTRYPOINT')
        break
      case 'CMD':
        spec.cmd = jsonArray(line, 'CMD')
        break
      case 'HEALTHCHECK':
        spec.healthcheck = jsonArray(line, 'CMD')
        break
      case 'EXPOSE':
        spec.exposed.push(...line.split(/\s+/).slice(1).map(Number))
        break
      case 'COPY': {
        const parts = line.split(/\s+/).slice(1)
        if (parts.some((p) => p.startsWith('--from='))) break
        const to = parts.at(-1)!
        for (const from of parts.slice(0, -1)) spec.copies.push({ from, to })
        break
      }
    }
  }
  const { workdir, user, entrypoint, cmd, healthcheck } = spec
  if (!workdir || !user || !entrypoint || !cmd || !healthcheck) {
    throw new Error('Dockerfile final stage lacks WORKDIR, USER, ENTRYPOINT, CMD or HEALTHCHECK')
  }
  return { workdir, user, entrypoint, cmd, healthcheck, exposed: spec.exposed, copies: spec.copies }
}
