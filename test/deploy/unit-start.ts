// How systemd would start an installed portcullis.service, as a shell script for a machine
// without systemd as PID 1 (a test's mount and network namespace): the unit file and its drop-ins
// (portcullis.service.d/*.conf, in name order) are merged, and the parts that decide what the
// process can reach are reproduced: DynamicUser= (a uid of the dynamic range), SupplementaryGroups=,
// AmbientCapabilities=, NoNewPrivileges=, Environment=, LoadCredential= (copies owned by that uid,
// mode 0400, under /run/credentials/<unit>, $CREDENTIALS_DIRECTORY) and ExecStart= from /. The
// sandboxing options (ProtectSystem= and the like) are not reproduced; systemd-analyze checks them.
// Usage: node --import tsx test/deploy/unit-start.ts /etc/systemd/system/portcullis.service
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'

/** The uid (and gid) the test gives the dynamic user: inside systemd's 61184–65519 range. */
export const DYNAMIC_UID = 61234

/** [Service] assignments of the unit and its drop-ins, in order; `key=` resets a list. */
function serviceSettings(unitFile: string): Map<string, string[]> {
  const files = [unitFile]
  const dropIns = `${unitFile}.d`
  if (existsSync(dropIns)) {
    for (const f of readdirSync(dropIns).sort()) {
      if (f.endsWith('.conf')) files.push(join(dropIns, f))
    }
  }
  const settings = new Map<string, string[]>()
  for (const file of files) {
    let section = ''
    for (const raw of readFileSync(file, 'utf8').split('\n')) {
      const line = raw.trim()
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
      if (line.startsWith('[')) {
        section = line
        continue
      }
      if (section !== '[Service]') continue
      const eq = line.indexOf('=')
      const key = line.slice(0, eq)
      const value = line.slice(eq + 1)
      if (value === '') settings.set(key, [])
      else settings.set(key, [...(settings.get(key) ?? []), value])
    }
  }
  return settings
}

const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

export function unitStartScript(unitFile: string): string {
  const unit = basename(unitFile)
  const s = serviceSettings(unitFile)
  const one = (key: string): string | undefined => s.get(key)?.at(-1)
  if (one('DynamicUser') !== 'yes') throw new Error(`${unit}: expected DynamicUser=yes`)
  const execStart = one('ExecStart')
  if (execStart === undefined) throw new Error(`${unit}: no ExecStart=`)
  const lines = ['cd /']
  const credentials = s.get('LoadCredential') ?? []
  if (credentials.length > 0) {
    const dir = `/run/credentials/${unit}`
    lines.push(`mkdir -p /run/credentials && mount -t tmpfs -o mode=0755 tmpfs /run/credentials`)
    lines.push(`mkdir ${q(dir)}`)
    for (const c of credentials) {
      const [id, path] = [c.slice(0, c.indexOf(':')), c.slice(c.indexOf(':') + 1)]
      lines.push(`cp ${q(path)} ${q(`${dir}/${id}`)}`, `chmod 0400 ${q(`${dir}/${id}`)}`)
    }
    lines.push(`chown -R ${DYNAMIC_UID}:${DYNAMIC_UID} ${q(dir)}`, `chmod 0500 ${q(dir)}`)
    lines.push(`mount -o remount,ro /run/credentials`, `export CREDENTIALS_DIRECTORY=${q(dir)}`)
  }
  for (const env of s.get('Environment') ?? []) lines.push(`export ${q(env)}`)
  const groups = (s.get('SupplementaryGroups') ?? []).flatMap((g) => g.split(/\s+/))
  const caps = (s.get('AmbientCapabilities') ?? [])
    .flatMap((c) => c.split(/\s+/))
    .map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)
    .join(',')
  const setpriv = [
    'setpriv',
    `--reuid=${DYNAMIC_UID}`,
    `--regid=${DYNAMIC_UID}`,
    groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups',
    ...(caps !== '' ? [`--inh-caps=${caps}`, `--ambient-caps=${caps}`] : []),
    ...(one('NoNewPrivileges') === 'yes' ? ['--no-new-privs'] : []),
    '--',
  ]
  lines.push(`exec ${setpriv.join(' ')} ${execStart}`)
  return lines.join('\n')
}

if (process.argv[1] !== undefined && process.argv[1].endsWith('unit-start.ts')) {
  const unitFile = process.argv[2]
  if (unitFile === undefined) throw new Error('usage: unit-start.ts UNIT_FILE')
  process.stdout.write(unitStartScript(unitFile) + '\n')
}
