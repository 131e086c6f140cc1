/**
 * The Istio standard labels every istio_* family this gateway exports carries, in one place so
 * the HTTP and TCP families agree (Istio's dashboards join them by these names).
 */

// Labels that are the same for everything this gateway reports. Istio gateways report as the
// source; workload and namespace labels a mesh would fill in read "unknown", as Istio itself
// reports for destinations outside the mesh.
export const GATEWAY_LABELS =
  'reporter="source",source_workload="portcullis",source_workload_namespace="unknown",' +
  'destination_workload="unknown",destination_workload_namespace="unknown",' +
  'destination_service_namespace="unknown"'

/** Label value for series folded once a family's series bound is reached. */
export const OVERFLOW = 'overflow'

/** `destination_service="…",destination_service_name="…"` for a destination host. */
export function destinationLabels(destinationService: string | undefined): string {
  const service =
    destinationService === undefined || destinationService === '' ? 'unknown' : destinationService
  const serviceName =
    service === 'unknown' || service === OVERFLOW ? service : firstDnsLabel(service)
  return (
    `destination_service="${escapeLabelValue(service)}",` +
    `destination_service_name="${escapeLabelValue(serviceName)}"`
  )
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
