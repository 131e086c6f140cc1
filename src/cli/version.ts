import { readFileSync } from 'node:fs'

/** From package.json, two levels up from both src/cli/ and dist/cli/. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

export function versionText(): string {
  return `portcullis ${packageVersion()} (node ${process.version})`
}
