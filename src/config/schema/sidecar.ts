/** networking.istio.io Sidecar (sidecar.proto): its egress part scopes the outbound allowlist. */
import {
  any,
  arr,
  enumOf,
  map,
  mesh,
  noted,
  obj,
  planned,
  port,
  req,
  str,
  type Infer,
} from './dsl.js'

export const sidecarSpec = obj(
  {
    workloadSelector: noted(
      obj({ labels: map(str()) }),
      'matched against GatewayConfig spec.labels (the Sidecar must also be in outbound.namespace); a Sidecar that does not select this instance does not apply',
    ),
    ingress: mesh(arr(any('IstioIngressListener')), 'configures inbound traffic of mesh workloads'),
    egress: noted(
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
      'the hosts of every listener together narrow what the outbound listener and egress may reach; port and bind do not split it',
    ),
    outboundTrafficPolicy: obj(
      {
        mode: enumOf(['REGISTRY_ONLY', 'ALLOW_ANY']),
        egressProxy: planned(
          any('Destination'),
          'ALLOW_ANY through another proxy is not supported',
        ),
      },
      { name: 'OutboundTrafficPolicy' },
    ),
    inboundConnectionPool: mesh(
      any('ConnectionPoolSettings'),
      'limits inbound connections of mesh workloads',
    ),
  },
  { name: 'Sidecar' },
)
export type SidecarSpec = Infer<typeof sidecarSpec>
