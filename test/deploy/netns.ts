// A network namespace of the test's own, joined to this host by a veth pair with private
// addresses that exist only on this machine: what a container's network looks like from the node.
// Each namespace has a unique name and is always deleted (which also removes the veth pair).
import { execFileSync, spawnSync } from 'node:child_process'
import { randomInt } from 'node:crypto'

export interface Netns {
  readonly name: string
  /** The host side of the veth pair. */
  readonly hostIp: string
  /** The namespace side: where a process inside is reached from the host. */
  readonly nsIp: string
  delete(): void
}

/** Why namespaces cannot be made here (not root, no iproute2 netns), or undefined. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace'
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  if (ip.error !== undefined || ip.status !== 0) return '`ip netns` (iproute2) is not available'
  for (const tool of ['unshare', 'setpriv', 'nsenter']) {
    if (spawnSync(tool, ['--version']).status !== 0) return `${tool} (util-linux) is not installed`
  }
  return undefined
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

function addressInUse(addr: string): boolean {
  return execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).includes(
    ` ${addr}/`,
  )
}

export function createNetns(): Netns {
  const tag = `${process.pid.toString(36)}${randomInt(36 ** 3).toString(36)}`.slice(-6)
  const name = `portcullis-test-${tag}`
  const hostIf = `pct${tag}h`
  const nsIf = `pct${tag}n`
  // 10.243.<b>.<c>/30: private, and checked not to be on any interface already.
  let hostIp = ''
  let nsIp = ''
  for (let attempt = 0; attempt < 20; attempt++) {
    const b = randomInt(256)
    const c = randomInt(64) * 4
    hostIp = `10.243.${b}.${c + 1}`
    nsIp = `10.243.${b}.${c + 2}`
    if (!addressInUse(hostIp) && !addressInUse(nsIp)) break
  }
  const remove = (): void => {
    spawnSync('ip', ['netns', 'del', name])
    spawnSync('ip', ['link', 'del', hostIf])
  }
  try {
    ip('netns', 'add', name)
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf)
    ip('link', 'set', nsIf, 'netns', name)
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf)
    ip('link', 'set', hostIf, 'up')
    ip('-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf)
    ip('-n', name, 'link', 'set', nsIf, 'up')
    ip('-n', name, 'link', 'set', 'lo', 'up')
  } catch (err) {
    remove()
    throw err
  }
  return { name, hostIp, nsIp, delete: remove }
}
