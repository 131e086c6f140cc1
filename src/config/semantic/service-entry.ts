/**
 * ServiceEntry checks from Istio's ValidateServiceEntry: addresses and resolution, unique ports,
 * endpoints that fit the resolution, and hosts that can be resolved.
 */
import { isIP } from 'node:net'
import type { Diagnostic } from '../../diag/index.js'
import { checkDnsName } from '../../lib/index.js'
import type { Path, ServiceEntry, ServiceEntrySpec, WorkloadEntrySpec } from '../types.js'
import { checkSelectorLabels, isDnsLabel } from './names.js'
import { at, createReporter, type Report } from './report.js'

const UNIX_PREFIX = 'unix://'
/** Protocols whose requests name their host (Host header or SNI), so one port can carry several hosts. */
const HOST_AWARE_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTPS', 'TLS'])

export function checkServiceEntry(se: ServiceEntry, diags: Diagnostic[]): void {
  const report = createReporter(se, diags)
  const spec = se.spec
  const resolution = spec.resolution ?? 'NONE'
  checkHosts(spec, report)
  checkAddresses(spec, resolution, report)
  const portNames = checkPorts(spec, report)
  if (spec.workloadSelector !== undefined) {
    checkSelectorLabels(
      spec.workloadSelector.labels,
      ['spec', 'workloadSelector', 'labels'],
      report,
    )
    if (spec.endpoints !== undefined) {
      report(
        'PC1107',
        ['spec', 'endpoints'],
        'only one of workloadSelector or endpoints can be set in a ServiceEntry',
      )
    }
  }
  checkResolution(spec, resolution, portNames, report)
}

function checkHosts(spec: ServiceEntrySpec, report: Report): void {
  spec.hosts.forEach((h, i) => {
    if (/^\*[^.]/.test(h)) {
      report(
        'PC1118',
        ['spec', 'hosts', i],
        `partial wildcard "${h}" matches every name that ends in "${h.slice(1)}" (a plain suffix match); write "*.${h.slice(1)}" for subdomains`,
      )
    }
  })
}

function checkAddresses(spec: ServiceEntrySpec, resolution: string, report: Report): void {
  spec.addresses?.forEach((a, i) => {
    const path: Path = ['spec', 'addresses', i]
    if (!isIpOrCidr(a)) {
      report('PC1115', path, `${a} is not a valid IP address or CIDR block`)
    } else if (a.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC') {
      report(
        'PC1501',
        path,
        `CIDR addresses are allowed only for NONE/STATIC resolution types (resolution is ${resolution})`,
      )
    }
  })
}

function isIpOrCidr(v: string): boolean {
  const slash = v.indexOf('/')
  if (slash < 0) return isIP(v) !== 0
  const ip = v.slice(0, slash)
  const bits = v.slice(slash + 1)
  const family = isIP(ip)
  if (family === 0 || !/^[0-9]{1,3}$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}

/** Returns the port names, which endpoints may refer to. */
function checkPorts(spec: ServiceEntrySpec, report: Report): Set<string> {
  const names = new Map<string, number>()
  const numbers = new Map<number, number>()
  spec.ports?.forEach((p, i) => {
    const path: Path = ['spec', 'ports', i]
    const sameName = names.get(p.name)
    if (sameName !== undefined) {
      report(
        'PC1117',
        at(path, 'name'),
        `duplicate value: service entry port name "${p.name}" is already defined by spec.ports[${sameName}]`,
      )
    } else names.set(p.name, i)
    const sameNumber = numbers.get(p.number)
    if (sameNumber !== undefined) {
      report(
        'PC1502',
        at(path, 'number'),
        `port number cannot be duplicated: service entry port ${p.number} is already defined by spec.ports[${sameNumber}]`,
      )
    } else numbers.set(p.number, i)
    if (!isDnsLabel(p.name)) {
      report(
        'PC1104',
        at(path, 'name'),
        `invalid port name: ${p.name} (lower-case letters, digits and '-')`,
      )
    }
  })
  return new Set(names.keys())
}

function checkResolution(
  spec: ServiceEntrySpec,
  resolution: string,
  portNames: Set<string>,
  report: Report,
): void {
  const endpoints = spec.endpoints ?? []
  switch (resolution) {
    case 'NONE':
      if (endpoints.length > 0) {
        report(
          'PC1501',
          ['spec', 'endpoints'],
          'NONE mode cannot set endpoints: no endpoints should be provided for resolution type NONE (the original destination is used)',
        )
      }
      break
    case 'STATIC':
      endpoints.forEach((ep, i) =>
        checkEndpoint(ep, ['spec', 'endpoints', i], 'STATIC', portNames, report),
      )
      break
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        spec.hosts.forEach((h, i) => {
          if (!h.includes('*')) return
          report(
            'PC1501',
            ['spec', 'hosts', i],
            `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}: "${h}" cannot be resolved`,
          )
        })
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        report(
          'PC1501',
          ['spec', 'endpoints'],
          'DNS_ROUND_ROBIN mode cannot have multiple endpoints: there must only be 0 or 1 endpoint',
        )
      }
      endpoints.forEach((ep, i) =>
        checkEndpoint(ep, ['spec', 'endpoints', i], resolution, portNames, report),
      )
      break
    default:
      break
  }
  // Plain TCP cannot tell hosts apart, so several hosts only work when the original
  // destination is used (NONE).
  if (resolution !== 'NONE' && spec.hosts.length > 1) {
    const i = spec.ports?.findIndex((p) => !HOST_AWARE_PROTOCOLS.has(p.protocol ?? '')) ?? -1
    if (i >= 0) {
      report(
        'PC1504',
        ['spec', 'ports', i, 'protocol'],
        'multiple hosts provided with non-HTTP, non-TLS ports: the gateway cannot tell which host a connection is for',
      )
    }
  }
}

function checkEndpoint(
  ep: WorkloadEntrySpec,
  path: Path,
  resolution: string,
  portNames: Set<string>,
  report: Report,
): void {
  const addr = ep.address ?? ''
  if (addr === '') {
    if (ep.network === undefined || ep.network === '') {
      report('PC1503', at(path, 'address'), 'address is required')
    }
  } else if (addr.startsWith(UNIX_PREFIX)) {
    checkUnixEndpoint(ep, addr, path, resolution, portNames, report)
  } else if (isIP(addr) === 0) {
    if (resolution === 'STATIC') {
      report(
        'PC1503',
        at(path, 'address'),
        `endpoint address "${addr}" is not a valid IP address (resolution STATIC)`,
      )
    } else if (checkDnsName(addr, { allowWildcard: false }) !== undefined) {
      report(
        'PC1503',
        at(path, 'address'),
        `endpoint address "${addr}" is not a valid FQDN or an IP address`,
      )
    }
  }
  for (const name of Object.keys(ep.ports ?? {})) {
    if (!portNames.has(name)) {
      report(
        'PC1503',
        at(path, 'ports', name),
        `endpoint port ${name} is not defined by the service entry`,
      )
    }
  }
}

function checkUnixEndpoint(
  ep: WorkloadEntrySpec,
  addr: string,
  path: Path,
  resolution: string,
  portNames: Set<string>,
  report: Report,
): void {
  if (resolution !== 'STATIC') {
    report(
      'PC1503',
      at(path, 'address'),
      `unix:// endpoints need resolution STATIC (resolution is ${resolution})`,
    )
    return
  }
  // An absolute path, or an abstract socket name starting with @.
  const socket = addr.slice(UNIX_PREFIX.length)
  if (
    socket === '' ||
    (!socket.startsWith('@') && (!socket.startsWith('/') || socket.endsWith('/')))
  ) {
    report('PC1503', at(path, 'address'), `"${addr}" is not an absolute path to a socket file`)
  }
  if (ep.ports !== undefined && Object.keys(ep.ports).length > 0) {
    report('PC1503', at(path, 'ports'), `unix endpoint ${addr} must not include ports`)
  }
  if (portNames.size !== 1) {
    report('PC1503', at(path, 'address'), 'exactly 1 service port required for unix endpoints')
  }
}
