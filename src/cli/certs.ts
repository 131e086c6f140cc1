/**
 * `portcullis certs ca --out DIR` and `portcullis certs issue --ca DIR --host NAME… [--client]
 * [--uri URI…] [--days N] --out OUT`: a development CA, and certificates in the credential layout
 * (`tls.crt`, `tls.key`, `ca.crt`) that `credentialName` reads from the certs directory.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createCa, issueCertificate } from './cert-forge.js'

export const CERTS_USAGE = `Usage:
  portcullis certs ca --out DIR
      Writes DIR/ca.crt and DIR/ca.key (a development CA, RSA 2048, 10 years).
  portcullis certs issue --ca DIR --host NAME [--host NAME...] [--client] [--uri URI...]
                         [--days N] [--group GROUP] [--mode MODE] --out OUT
      Writes OUT/tls.crt, OUT/tls.key and OUT/ca.crt (the issuing CA): the layout of a
      Kubernetes TLS Secret, read by credentialName from the certs directory.
      --client makes a client certificate (for MUTUAL); --uri adds a URI SAN (e.g. SPIFFE);
      --days sets the validity (default 90). --group gives tls.key to GROUP (a name from
      /etc/group or a number), mode 0640, so a service account in that group (systemd
      SupplementaryGroups=) can read it; --mode sets the key's mode (octal, default 0600).

Options:
  -h, --help             show this help
`

/** Returns the exit code; messages go to `out`/`err`. */
export function runCerts(
  argv: readonly string[],
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  const [sub, ...rest] = argv
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    out(CERTS_USAGE)
    return 0
  }
  let values
  try {
    values = parseArgs({
      args: [...rest],
      options: {
        out: { type: 'string' },
        ca: { type: 'string' },
        host: { type: 'string', multiple: true },
        uri: { type: 'string', multiple: true },
        client: { type: 'boolean' },
        days: { type: 'string' },
        group: { type: 'string' },
        mode: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (e) {
    err(`portcullis certs: ${(e as Error).message}\n${CERTS_USAGE}`)
    return 2
  }
  if (values.help === true) {
    out(CERTS_USAGE)
    return 0
  }
  if (values.out === undefined || (sub !== 'ca' && sub !== 'issue')) {
    err(CERTS_USAGE)
    return 2
  }
  mkdirSync(values.out, { recursive: true })
  if (sub === 'ca') {
    const ca = createCa()
    writeFileSync(join(values.out, 'ca.crt'), ca.cert)
    writeFileSync(join(values.out, 'ca.key'), ca.key, { mode: 0o600 })
    out(`wrote ${join(values.out, 'ca.crt')} and ca.key\n`)
    return 0
  }
  const hosts = values.host ?? []
  if (values.ca === undefined || (hosts.length === 0 && (values.uri ?? []).length === 0)) {
    err(
      `portcullis certs issue: --ca and at least one --host (or --uri) are required\n${CERTS_USAGE}`,
    )
    return 2
  }
  const ca = {
    cert: readFileSync(join(values.ca, 'ca.crt'), 'utf8'),
    key: readFileSync(join(values.ca, 'ca.key'), 'utf8'),
  }
  const days = values.days !== undefined ? Number(values.days) : undefined
  if (days !== undefined && !(Number.isInteger(days) && days > 0)) {
    err('portcullis certs issue: --days must be a positive integer\n')
    return 2
  }
  const gid = values.group === undefined ? undefined : groupId(values.group)
  if (gid === null) {
    err(`portcullis certs issue: no group ${values.group ?? ''} in /etc/group\n`)
    return 2
  }
  const mode =
    values.mode !== undefined ? parseInt(values.mode, 8) : gid !== undefined ? 0o640 : 0o600
  if (values.mode !== undefined && !(/^0?[0-7]{3}$/.test(values.mode) && (mode & 0o007) === 0)) {
    err('portcullis certs issue: --mode must be octal with no access for others (e.g. 0640)\n')
    return 2
  }
  const pem = issueCertificate(ca, {
    hosts,
    ...(values.uri !== undefined ? { uris: values.uri } : {}),
    ...(values.client === true ? { client: true } : {}),
    ...(days !== undefined ? { days } : {}),
  })
  writeFileSync(join(values.out, 'tls.crt'), pem.cert)
  const keyFile = join(values.out, 'tls.key')
  writeFileSync(keyFile, pem.key, { mode: 0o600 })
  // Group first, then the mode: the key is never readable by a group it is not meant for.
  if (gid !== undefined) chownSync(keyFile, -1, gid)
  chmodSync(keyFile, mode)
  writeFileSync(join(values.out, 'ca.crt'), ca.cert)
  out(`wrote ${join(values.out, 'tls.crt')}, tls.key and ca.crt\n`)
  return 0
}

/** A group name from /etc/group, or a number; null when there is no such group. */
function groupId(group: string): number | null {
  if (/^[0-9]+$/.test(group)) return Number(group)
  let text: string
  try {
    text = readFileSync('/etc/group', 'utf8')
  } catch {
    return null
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid)
  }
  return null
}
