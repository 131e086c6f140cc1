import { formatPath } from '../diag/index.js'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

/** Where an IR element came from: the resource and the field path inside it, with its line. */
export function sourceRef(resource: istio.AnyResource, path: istio.Path): ir.SourceRef {
  const loc = resource.origin.locate(path)
  return {
    kind: resource.kind,
    namespace: resource.metadata.namespace,
    name: resource.metadata.name,
    path: formatPath(path),
    file: loc.file,
    line: loc.line,
  }
}

/** `<namespace>/<name>`, the way Istio names a resource in `gateways` lists and ids. */
export function resourceKey(resource: istio.AnyResource): string {
  return `${resource.metadata.namespace}/${resource.metadata.name}`
}
