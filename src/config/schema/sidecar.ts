/** networking.istio.io Sidecar (sidecar.proto): its egress part scopes the outbound allowlist. */
import { any, arr, enumOf, map, mesh, obj, planned, port, req, str, type Infer } from './dsl.js'

const EGRESS_LATER = 'egress scoping arrives with the egress allowlist work'

export const sidecarSpec = obj(
  {
    workloadSelector: mesh(
      obj({ labels: map(str()) }),
      'selects mesh workloads; here the Sidecar applies to the whole gateway',
    ),
    ingress: mesh(arr(any('IstioIngressListener')), 'configures inbound traffic of mesh workloads'),
    egress: planned(
      arr(
        obj(
          {
            port: obj({ number: req(port()), protocol: str(), name: str(), targetPort: port() }),
            bind: str(),
            captureMode: mesh(
              enumOf(['DEFAULT', 'IPTABLES', 'NONE']),
              'configures iptables capture in a pod',
            ),
            hosts: req(arr(str(), { min: 1 })),
          },
          { name: 'IstioEgressListener' },
        ),
      ),
      EGRESS_LATER,
    ),
    outboundTrafficPolicy: planned(
      obj(
        {
          mode: enumOf(['REGISTRY_ONLY', 'ALLOW_ANY']),
          egressProxy: any('Destination'),
        },
        { name: 'OutboundTrafficPolicy' },
      ),
      EGRESS_LATER,
    ),
    inboundConnectionPool: mesh(
      any('ConnectionPoolSettings'),
      'limits inbound connections of mesh workloads',
    ),
  },
  { name: 'Sidecar' },
)
export type SidecarSpec = Infer<typeof sidecarSpec>
