/**
 * ACME http-01 answers (RFC 8555 §8.3), consulted before routing on plain-HTTP listeners: a GET
 * for `/.well-known/acme-challenge/<token>` whose token the responder knows is answered with its
 * key authorization. Any other request, and an unknown token, is routed as usual, so a backend
 * that answers its own challenges keeps working.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/'

export interface AcmeChallengeResponder {
  /** The key authorization for `token`, or undefined when no order of ours is waiting on it. */
  http01(token: string): Promise<string | undefined>
}

/** True when the request is a challenge this responder may answer (the lookup is then async). */
export function isAcmeChallenge(req: IncomingMessage, scheme: 'http' | 'https'): boolean {
  return (
    scheme === 'http' &&
    (req.method === 'GET' || req.method === 'HEAD') &&
    req.url?.startsWith(ACME_CHALLENGE_PREFIX) === true
  )
}

/** Answers from `responder`, or calls `route` when the token is not ours. */
export function answerAcmeChallenge(
  req: IncomingMessage,
  res: ServerResponse,
  responder: AcmeChallengeResponder,
  route: () => void,
): void {
  const token = (req.url ?? '').slice(ACME_CHALLENGE_PREFIX.length)
  const known = /^[A-Za-z0-9_-]+$/.test(token)
    ? responder.http01(token)
    : Promise.resolve(undefined)
  known.then(
    (keyAuthorization) => {
      if (keyAuthorization === undefined) return route()
      if (res.destroyed) return
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(keyAuthorization),
      })
      res.end(req.method === 'HEAD' ? undefined : keyAuthorization)
    },
    () => route(),
  )
}
