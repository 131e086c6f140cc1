/**
 * ACME tls-alpn-01 answers (RFC 8737), a Portcullis extension to cert-manager's solvers: a
 * ClientHello whose ALPN list is exactly `acme-tls/1` is the CA validating a name, and gets the
 * challenge certificate (self-signed, with the acmeIdentifier extension) for its SNI, negotiates
 * `acme-tls/1` and is closed after the handshake. Routing never sees it. A name with no pending
 * challenge is refused (the connection is closed): the listener's own certificate must not be
 * offered under `acme-tls/1`.
 *
 * This needs the ClientHello peeked before the TLS socket exists, so a TLS listener keeps its
 * peek while a tls-alpn-01 solver is configured (`wanted`, read by tls-acceptor.ts), and goes
 * native again once none is.
 */
import type { Socket } from 'node:net'
import { createSecureContext, TLSSocket } from 'node:tls'
import type { ClientHello } from './client-hello.js'
import { ReplayDuplex } from './replay-duplex.js'

export const ACME_TLS_ALPN = 'acme-tls/1'
const HANDSHAKE_TIMEOUT_MS = 10_000

export interface AcmeAlpnResponder {
  /**
   * True while some Certificate of the current config is validated with tls-alpn-01: only then
   * must a TLS listener that could go native (peek-decision.ts) peek at the ClientHello.
   */
  wanted(): boolean
  /** The challenge certificate and key (PEM) for `name`, or undefined when none is pending. */
  tlsAlpn01(name: string): Promise<{ readonly cert: string; readonly key: string } | undefined>
}

export function isAcmeAlpnHello(hello: ClientHello): boolean {
  return hello.alpn.length === 1 && hello.alpn[0] === ACME_TLS_ALPN
}

export function answerAcmeAlpn(
  socket: Socket,
  hello: Buffer,
  serverName: string | undefined,
  responder: AcmeAlpnResponder,
): void {
  const pending = serverName !== undefined ? responder.tlsAlpn01(serverName) : undefined
  void (pending ?? Promise.resolve(undefined)).then(
    (challenge) => {
      if (challenge === undefined || socket.destroyed) return void socket.destroy()
      const tls = new TLSSocket(new ReplayDuplex(socket, hello), {
        isServer: true,
        secureContext: createSecureContext({ cert: challenge.cert, key: challenge.key }),
        ALPNProtocols: [ACME_TLS_ALPN],
      })
      const timer = setTimeout(() => tls.destroy(), HANDSHAKE_TIMEOUT_MS)
      timer.unref()
      tls.once('secure', () => {
        clearTimeout(timer)
        tls.end()
      })
      tls.on('error', () => {
        clearTimeout(timer)
        tls.destroy()
        socket.destroy()
      })
      tls.on('close', () => socket.destroy())
    },
    () => socket.destroy(),
  )
}
