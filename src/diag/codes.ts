/**
 * The diagnostic code catalogue. Codes are stable: never reuse or renumber one.
 *   PC10xx  files and YAML            PC11xx  schema (any kind)
 *   PC12xx  VirtualService            PC13xx  Gateway
 *   PC14xx  DestinationRule           PC15xx  ServiceEntry
 *   PC16xx  Sidecar                   PC17xx  GatewayConfig
 *   PC18xx  RateLimitPolicy           PC19xx  cert-manager Certificate, Issuer
 *   PC2xxx  references between resources
 *   PC3xxx  compile: conflicts, shadowing, binding
 *   PC4xxx  assets (certificates, files)
 * docs/diagnostics.md is checked against this table by a test.
 */
import type { Severity } from './severity.js'

export interface CodeInfo {
  readonly severity: Severity
  readonly title: string
}

export const CODES = {
  PC1001: { severity: 'error', title: 'config file cannot be read' },
  PC1002: { severity: 'error', title: 'YAML syntax error' },
  PC1003: { severity: 'error', title: 'document is not a Kubernetes-style object' },
  PC1004: { severity: 'error', title: 'unknown apiVersion or kind' },
  PC1005: { severity: 'error', title: 'metadata.name missing or invalid' },
  PC1006: { severity: 'warning', title: 'resource defined twice; the later definition wins' },
  PC1007: { severity: 'error', title: 'no config files found' },
  PC1008: { severity: 'warning', title: 'YAML warning' },
  PC1009: { severity: 'error', title: 'config serves nothing (empty, or no listener)' },

  PC1101: { severity: 'error', title: 'unknown field' },
  PC1102: { severity: 'error', title: 'wrong value type' },
  PC1103: { severity: 'error', title: 'required field missing' },
  PC1104: { severity: 'error', title: 'value not allowed' },
  PC1105: { severity: 'error', title: 'number out of range' },
  PC1106: { severity: 'error', title: 'invalid duration' },
  PC1107: { severity: 'error', title: 'mutually exclusive fields set together' },
  PC1108: { severity: 'warning', title: 'field accepted but not implemented yet' },
  PC1109: { severity: 'warning', title: 'field needs a service mesh and has no effect here' },
  PC1110: { severity: 'warning', title: 'deprecated field' },
  PC1111: { severity: 'error', title: 'invalid regular expression (RE2 syntax required)' },
  PC1112: { severity: 'error', title: 'invalid host name' },
  PC1113: { severity: 'error', title: 'field needs a service mesh and cannot be served here' },
  PC1114: { severity: 'warning', title: 'field removed from the Istio API; ignored' },
  PC1115: { severity: 'error', title: 'invalid IP address or CIDR' },
  PC1116: { severity: 'error', title: 'value is empty' },
  PC1117: { severity: 'error', title: 'duplicate value' },
  PC1118: { severity: 'warning', title: 'partial wildcard host (plain suffix match)' },
  PC1119: {
    severity: 'warning',
    title: 'field only a Kubernetes controller acts on (cert-manager); ignored',
  },

  PC1201: { severity: 'error', title: 'HTTP route has more than one action' },
  PC1202: { severity: 'error', title: 'weights must have a non-zero total' },
  PC1203: { severity: 'error', title: 'weight must be >= 0' },
  PC1204: { severity: 'error', title: 'invalid redirect' },
  PC1205: { severity: 'error', title: 'rewrite combined with redirect or direct response' },
  PC1206: { severity: 'error', title: 'empty match' },
  PC1207: { severity: 'error', title: 'VirtualService has no http, tls or tcp routes' },
  PC1208: { severity: 'error', title: 'authority set more than once' },
  PC1209: { severity: 'error', title: 'fault needs delay or abort' },
  PC1210: { severity: 'error', title: 'invalid header name' },
  PC1211: { severity: 'error', title: 'HTTP route has no action' },
  PC1212: { severity: 'error', title: 'invalid percentage' },
  PC1213: { severity: 'warning', title: 'delegate VirtualServices are not supported' },
  PC1214: { severity: 'error', title: 'delegate VirtualService has gateways, tls or tcp routes' },
  PC1215: { severity: 'error', title: 'wildcard host * on a VirtualService bound to the mesh' },
  PC1216: { severity: 'error', title: 'fault combined with redirect or direct response' },
  PC1217: { severity: 'error', title: 'retry policy set while retries are disabled' },
  PC1218: { severity: 'error', title: 'SNI host outside the VirtualService hosts' },
  PC1219: { severity: 'error', title: 'TLS or TCP route has no destination' },

  PC1301: { severity: 'error', title: 'duplicate server port name' },
  PC1302: { severity: 'error', title: 'TLS settings do not fit the server protocol' },
  PC1303: { severity: 'error', title: 'invalid server host' },
  PC1304: { severity: 'error', title: 'plain and TLS servers on one port' },
  PC1305: { severity: 'warning', title: 'httpsRedirect on a server that is not plain HTTP' },
  PC1306: { severity: 'warning', title: 'certificates on a PASSTHROUGH server are ignored' },

  PC1401: { severity: 'error', title: 'duplicate subset name' },
  PC1402: { severity: 'error', title: 'invalid load balancer settings' },
  PC1403: { severity: 'warning', title: 'warmup has no effect with this load balancer' },

  PC1501: { severity: 'error', title: 'invalid resolution for the given endpoints or addresses' },
  PC1502: { severity: 'error', title: 'duplicate port number' },
  PC1503: { severity: 'error', title: 'invalid endpoint' },
  PC1504: { severity: 'error', title: 'several hosts on a port that cannot tell them apart' },

  PC1601: { severity: 'error', title: 'Sidecar has no configuration' },
  PC1602: { severity: 'error', title: 'invalid Sidecar egress host' },

  PC1701: { severity: 'error', title: 'more than one GatewayConfig' },
  PC1702: { severity: 'error', title: 'port conflict between gateway and admin ports' },
  PC1703: { severity: 'error', title: 'extension provider name defined twice' },
  PC1704: { severity: 'error', title: 'opentelemetry provider without http' },
  PC1705: {
    severity: 'error',
    title: 'outbound port given twice or bound by another listener',
  },

  PC1801: { severity: 'error', title: 'sectionName on a Gateway target' },
  PC1802: { severity: 'error', title: 'match field that does not apply to a rate-limit rule' },

  PC1901: { severity: 'error', title: 'Certificate name that no ACME solver of its issuer covers' },

  PC2001: { severity: 'warning', title: 'VirtualService names a Gateway that does not exist' },
  PC2002: {
    severity: 'warning',
    title: 'destination host has no ServiceEntry (requests get 503 NC)',
  },
  PC2003: { severity: 'warning', title: 'destination subset is not defined (requests get 503 NC)' },
  PC2004: { severity: 'warning', title: 'VirtualService is not bound to any gateway server' },
  PC2005: { severity: 'error', title: 'destination port is ambiguous or unknown' },
  PC2006: { severity: 'warning', title: 'Gateway selector matches no label of this instance' },
  PC2007: {
    severity: 'warning',
    title: 'destination port is not a port of its ServiceEntry (requests get 503 NC)',
  },
  PC2008: {
    severity: 'warning',
    title: 'RateLimitPolicy target does not exist (no limit applies)',
  },
  PC2009: {
    severity: 'warning',
    title: 'RateLimitPolicy sectionName names no HTTP route (no limit applies)',
  },
  PC2010: { severity: 'error', title: 'Certificate issuerRef names no Issuer or ClusterIssuer' },
  PC2011: {
    severity: 'warning',
    title: 'Certificate secretName is no Gateway server credentialName (nothing serves it)',
  },
  PC2012: { severity: 'error', title: 'Telemetry names an extension provider that does not exist' },
  PC2013: { severity: 'warning', title: 'another Telemetry already decides tracing; not applied' },
  PC2014: {
    severity: 'warning',
    title: 'mesh tls/tcp route cannot apply on this instance',
  },
  PC2015: {
    severity: 'warning',
    title: 'mesh VirtualService host has no ServiceEntry (served on port 80 only)',
  },
  PC2016: {
    severity: 'warning',
    title: 'Sidecar does not select this instance (it does not apply)',
  },

  PC3001: { severity: 'warning', title: 'route is shadowed by an earlier catch-all' },
  PC3002: { severity: 'warning', title: 'server protocol not served yet' },
  PC3006: { severity: 'warning', title: 'L4 route cannot be served on this server' },
  PC3003: { severity: 'error', title: 'conflicting listeners on one port' },
  PC3004: { severity: 'warning', title: 'VirtualService host does not intersect any server host' },
  PC3005: {
    severity: 'warning',
    title: 'VirtualService exportTo hides it from the Gateway namespace',
  },

  PC4001: { severity: 'error', title: 'certificate or key file cannot be read' },
  PC4002: { severity: 'error', title: 'private key does not match its certificate' },
  PC4003: { severity: 'warning', title: 'certificate does not cover a server host' },
  PC4004: { severity: 'error', title: 'certificate is expired or not yet valid' },
  PC4005: { severity: 'warning', title: 'cipher suite not accepted (left out)' },
} as const satisfies Record<string, CodeInfo>

export type DiagCode = keyof typeof CODES
