/** networking.istio.io ServiceEntry and WorkloadEntry (service_entry.proto, workload_entry.proto). */
import { checkDnsName } from '../../lib/index.js'
import { arr, enumOf, int, map, mesh, obj, planned, port, req, str, type Infer } from './dsl.js'

export const SERVICE_PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'GRPC',
  'GRPC-WEB',
  'HTTP2',
  'MONGO',
  'TCP',
  'TLS',
  'UDP',
] as const

const sePort = obj(
  {
    number: req(port()),
    protocol: enumOf(SERVICE_PROTOCOLS, { caseInsensitive: true }),
    name: req(str({ nonEmpty: true })),
    targetPort: port(),
  },
  { name: 'ServicePort' },
)

export const workloadEntry = obj(
  {
    address: str(),
    ports: map(port()),
    labels: map(str()),
    network: str(),
    locality: str(),
    weight: int({ min: 0, max: 4294967295 }),
    serviceAccount: mesh(str(), 'names a mesh identity; not used by a standalone gateway'),
  },
  { name: 'WorkloadEntry' },
)

const seHost = str({
  nonEmpty: true,
  checkCode: 'PC1112',
  check: (v) => {
    if (v === '*') return 'a bare "*" is not allowed as a ServiceEntry host'
    // Istio accepts a partial wildcard such as "*x" (a plain suffix match); semantic checks warn.
    const name = /^\*[^.]/.test(v) ? `x${v.slice(1)}` : v
    const r = checkDnsName(name, { allowWildcard: true })
    return r !== undefined ? `invalid host "${v}": ${r}` : undefined
  },
})

export const serviceEntrySpec = obj(
  {
    hosts: req(arr(seHost, { min: 1, max: 256 })),
    addresses: arr(str()),
    ports: arr(sePort),
    location: enumOf(['MESH_EXTERNAL', 'MESH_INTERNAL']),
    resolution: enumOf(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']),
    endpoints: arr(workloadEntry, { max: 4096 }),
    workloadSelector: mesh(
      obj({ labels: map(str()) }),
      'selects mesh workloads (Pods or WorkloadEntries) that a standalone gateway cannot see; list endpoints instead (without endpoints the service has none)',
    ),
    exportTo: arr(str()),
    subjectAltNames: planned(arr(str()), 'upstream certificate checks arrive with TLS origination'),
  },
  { name: 'ServiceEntry' },
)
export type ServiceEntrySpec = Infer<typeof serviceEntrySpec>
export type WorkloadEntrySpec = Infer<typeof workloadEntry>
