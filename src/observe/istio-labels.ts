/**
 * The Istio standard labels every istio_* family this gateway exports carries, in one place so
 * the HTTP and TCP families agree (Istio's dashboards join them by these names). The label set
 * is Istio's (istio.io "Istio Standard Metrics"); each series' label string is built once, when
 * the series is created, never per request.
 */

/** Who this gateway is, as Istio's telemetry reports the source workload of a gateway. */
export interface GatewayIdentity {
  readonly workload: string
  readonly namespace: string
  readonly app: string
  readonly version: string
  readonly canonicalService: string
  readonly canonicalRevision: string
  readonly principal: string
  readonly cluster: string
}

/** Istio's value for what a standalone gateway cannot know (a mesh peer's metadata). */
const UNKNOWN = 'unknown'

/**
 * The identity from the instance labels (GatewayConfig `labels`), read with the label keys and
 * fallbacks Istio uses for a pod: `service.istio.io/workload-name` names the workload,
 * `service.istio.io/canonical-name` → `app.kubernetes.io/name` → `app` the canonical service,
 * `service.istio.io/canonical-revision` → `app.kubernetes.io/version` → `version` its revision
 * (`latest` when none), `topology.istio.io/cluster` the cluster. A pod's namespace is not a
 * label in Kubernetes, so `portcullis.io/namespace` says it. Without labels the workload is
 * `portcullis` and the rest `unknown`, as Istio reports what it cannot tell.
 */
export function gatewayIdentity(labels: Readonly<Record<string, string>> = {}): GatewayIdentity {
  const pick = (...keys: string[]): string | undefined => {
    for (const k of keys) {
      const v = labels[k]
      if (v !== undefined && v !== '') return v
    }
    return undefined
  }
  const workload = pick('service.istio.io/workload-name') ?? 'portcullis'
  return {
    workload,
    namespace: pick('portcullis.io/namespace') ?? UNKNOWN,
    app: pick('app') ?? UNKNOWN,
    version: pick('version') ?? UNKNOWN,
    canonicalService:
      pick('service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app') ?? workload,
    canonicalRevision:
      pick('service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version') ??
      'latest',
    // No mesh identity (SPIFFE) outside a mesh: Istio reports plain-text peers as unknown.
    principal: UNKNOWN,
    cluster: pick('topology.istio.io/cluster') ?? UNKNOWN,
  }
}

/**
 * The labels that are the same for everything this gateway reports: the reporter (a gateway
 * reports as the source, as Istio's gateways do), its own identity as the source, and the
 * destination workload labels, which only a destination's sidecar could fill in: Istio reports
 * them as `unknown` for destinations outside the mesh. `connection_security_policy` is known
 * only to the destination reporter (`mutual_tls`/`none`); a source reports `unknown`.
 */
export function gatewayLabels(id: GatewayIdentity): string {
  const v = escapeLabelValue
  return (
    `reporter="source",` +
    `source_workload="${v(id.workload)}",source_workload_namespace="${v(id.namespace)}",` +
    `source_principal="${v(id.principal)}",source_app="${v(id.app)}",` +
    `source_version="${v(id.version)}",source_canonical_service="${v(id.canonicalService)}",` +
    `source_canonical_revision="${v(id.canonicalRevision)}",source_cluster="${v(id.cluster)}",` +
    'destination_workload="unknown",destination_workload_namespace="unknown",' +
    'destination_principal="unknown",destination_app="unknown",destination_version="unknown",' +
    'destination_canonical_service="unknown",destination_canonical_revision="unknown",' +
    'destination_cluster="unknown",connection_security_policy="unknown"'
  )
}

/** The labels of a gateway without instance labels. */
export const GATEWAY_LABELS = gatewayLabels(gatewayIdentity())

/** Label value for series folded once a family's series bound is reached. */
export const OVERFLOW = 'overflow'

/**
 * `destination_service_namespace="…",destination_service="…",destination_service_name="…"` for
 * a destination host. A Kubernetes service host (`name.namespace.svc…`) gives its namespace, as
 * Istio reports it; other hosts (ServiceEntry hosts outside a cluster) have none here.
 */
export function destinationLabels(destinationService: string | undefined): string {
  const service =
    destinationService === undefined || destinationService === '' ? UNKNOWN : destinationService
  const serviceName = service === UNKNOWN || service === OVERFLOW ? service : firstDnsLabel(service)
  return (
    `destination_service_namespace="${escapeLabelValue(serviceNamespace(service))}",` +
    `destination_service="${escapeLabelValue(service)}",` +
    `destination_service_name="${escapeLabelValue(serviceName)}"`
  )
}

/** `ns` of `name.ns.svc` or `name.ns.svc.<cluster domain>`; `unknown` otherwise. */
function serviceNamespace(host: string): string {
  const parts = host.split('.')
  return parts.length >= 3 && parts[2] === 'svc' && parts[1] !== '' ? parts[1]! : UNKNOWN
}

/** `response_flags="…"`, `-` when there are none. */
export function flagsLabel(responseFlags: string): string {
  return `response_flags="${escapeLabelValue(responseFlags === '' ? '-' : responseFlags)}"`
}

function firstDnsLabel(host: string): string {
  const dot = host.indexOf('.')
  return dot <= 0 ? host : host.slice(0, dot)
}

/** Prometheus text format: backslash, double quote and newline are escaped in label values. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}
