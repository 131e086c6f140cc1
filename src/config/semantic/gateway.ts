/**
 * Gateway checks from Istio's ValidateGateway / validateServer / validateTLSOptions: unique port
 * names, TLS settings that fit the server protocol, and certificates that fit the TLS mode.
 */
import type { Diagnostic } from '../../diag/index.js'
import type { Gateway, Path, Server } from '../types.js'
import { at, createReporter, type Report } from './report.js'

const TLS_PROTOCOLS = new Set(['HTTPS', 'TLS'])
/** Istio's protocol.IsHTTP(): the protocols an HTTP connection manager serves. */
const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'])

type ServerTls = NonNullable<Server['tls']>

export function checkGateway(gw: Gateway, diags: Diagnostic[]): void {
  const report = createReporter(gw, diags)
  const portNames = new Map<string, number>()
  gw.spec.servers.forEach((server, i) => {
    const path: Path = ['spec', 'servers', i]
    const name = server.port.name
    const first = portNames.get(name)
    if (first !== undefined) {
      report(
        'PC1301',
        at(path, 'port', 'name'),
        `port names in servers must be unique: duplicate name ${name} (also used by spec.servers[${first}])`,
      )
    } else portNames.set(name, i)
    checkServerTls(server, path, report)
  })
}

function checkServerTls(server: Server, path: Path, report: Report): void {
  const protocol = server.port.protocol
  const tls = server.tls
  const isTls = TLS_PROTOCOLS.has(protocol)
  const isHttp = HTTP_PROTOCOLS.has(protocol)
  if (isTls && tls === undefined) {
    report(
      'PC1302',
      at(path, 'port', 'protocol'),
      `server must have TLS settings for HTTPS/TLS protocols: add tls with a mode (protocol ${protocol})`,
    )
    return
  }
  if (tls === undefined) return
  const tp = at(path, 'tls')
  if (!isTls) {
    // On plain HTTP only `httpsRedirect` makes sense: mode unset (PASSTHROUGH) and no certificates.
    if (isHttp) {
      if (
        !isPassthrough(tls) ||
        tls.caCertificates !== undefined ||
        tls.privateKey !== undefined ||
        tls.serverCertificate !== undefined
      ) {
        report(
          'PC1302',
          tp,
          'server cannot have TLS settings for plain text HTTP ports (only httpsRedirect)',
        )
      }
    } else {
      report(
        'PC1302',
        tp,
        `server cannot have TLS settings for non HTTPS/TLS ports (protocol ${protocol})`,
      )
    }
  }
  if (tls.httpsRedirect === true && !isHttp) {
    report(
      'PC1305',
      at(tp, 'httpsRedirect'),
      'tls.httpsRedirect should only be used with http servers; it has no effect here',
    )
  }
  checkTlsOptions(tls, tp, report)
}

function isPassthrough(tls: ServerTls): boolean {
  return tls.mode === undefined || tls.mode === 'PASSTHROUGH' || tls.mode === 'AUTO_PASSTHROUGH'
}

function hasCredential(tls: ServerTls): boolean {
  return tls.credentialName !== undefined || (tls.credentialNames?.length ?? 0) > 0
}

function checkTlsOptions(tls: ServerTls, tp: Path, report: Report): void {
  const mode = tls.mode ?? 'PASSTHROUGH'
  if (isPassthrough(tls)) {
    const certs =
      tls.caCrl !== undefined ||
      tls.serverCertificate !== undefined ||
      tls.privateKey !== undefined ||
      tls.caCertificates !== undefined ||
      (tls.tlsCertificates?.length ?? 0) > 0 ||
      hasCredential(tls)
    if (certs) {
      report(
        'PC1306',
        tp,
        `${mode} mode does not use certificates, they will be ignored (set mode: SIMPLE to terminate TLS)`,
      )
    }
  }
  let sources = 0
  if (tls.serverCertificate !== undefined && tls.privateKey !== undefined) sources++
  if (tls.credentialName !== undefined) sources++
  if ((tls.credentialNames?.length ?? 0) > 0) sources++
  if ((tls.tlsCertificates?.length ?? 0) > 0) sources++
  if (sources > 1) {
    report(
      'PC1302',
      tp,
      'only one of credentialName, credentialNames, serverCertificate/privateKey, tlsCertificates should be specified',
    )
  }
  const terminates = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL'
  if (terminates && !hasCredential(tls)) {
    const label = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS'
    if (mode !== 'SIMPLE' && tls.caCertificates === undefined) {
      report(
        'PC1302',
        tp,
        `${label} requires a client CA bundle: set caCertificates, or credentialName with a ca.crt`,
      )
    }
    const pairs: { path: Path; cert: string | undefined; key: string | undefined }[] =
      tls.tlsCertificates !== undefined && tls.tlsCertificates.length > 0
        ? tls.tlsCertificates.map((c, i) => ({
            path: at(tp, 'tlsCertificates', i),
            cert: c.serverCertificate,
            key: c.privateKey,
          }))
        : [{ path: tp, cert: tls.serverCertificate, key: tls.privateKey }]
    for (const p of pairs) {
      if (p.cert === undefined)
        report(
          'PC1302',
          p.path,
          `${label} requires a server certificate: set serverCertificate, or credentialName`,
        )
      if (p.key === undefined)
        report(
          'PC1302',
          p.path,
          `${label} requires a private key: set privateKey, or credentialName`,
        )
    }
  }
  if (tls.caCrl !== undefined) {
    if (tls.credentialName !== undefined) {
      report(
        'PC1302',
        at(tp, 'caCrl'),
        'CRL is not supported with credentialName. CRL has to be specified in the credential',
      )
    }
    if (mode === 'SIMPLE') {
      report('PC1302', at(tp, 'caCrl'), 'CRL is not supported with SIMPLE TLS')
    }
  }
}
