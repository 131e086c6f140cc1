/**
 * Where pending challenges wait for the CA to ask: http-01 tokens with their key authorization,
 * tls-alpn-01 challenge certificates by name. This one is in memory (the replica that placed
 * the order answers); store/redis.ts shares them.
 */

export interface AlpnChallenge {
  readonly cert: string
  readonly key: string
}

export interface ChallengeStore {
  putHttp01(token: string, keyAuthorization: string): Promise<void>
  http01(token: string): Promise<string | undefined>
  deleteHttp01(token: string): Promise<void>
  putTlsAlpn01(name: string, challenge: AlpnChallenge): Promise<void>
  tlsAlpn01(name: string): Promise<AlpnChallenge | undefined>
  deleteTlsAlpn01(name: string): Promise<void>
}

/** Challenges are short-lived; an entry left behind by a crash goes away after this. */
export const CHALLENGE_TTL_MS = 15 * 60_000

export function createMemoryChallengeStore(now: () => number = Date.now): ChallengeStore {
  const http = new Map<string, { value: string; until: number }>()
  const alpn = new Map<string, { value: AlpnChallenge; until: number }>()
  return {
    putTlsAlpn01(name, challenge) {
      alpn.set(name, { value: challenge, until: now() + CHALLENGE_TTL_MS })
      return Promise.resolve()
    },
    tlsAlpn01(name) {
      const e = alpn.get(name)
      return Promise.resolve(e !== undefined && e.until >= now() ? e.value : undefined)
    },
    deleteTlsAlpn01(name) {
      alpn.delete(name)
      return Promise.resolve()
    },
    putHttp01(token, keyAuthorization) {
      http.set(token, { value: keyAuthorization, until: now() + CHALLENGE_TTL_MS })
      return Promise.resolve()
    },
    http01(token) {
      const e = http.get(token)
      if (e !== undefined && e.until < now()) http.delete(token)
      return Promise.resolve(e !== undefined && e.until >= now() ? e.value : undefined)
    },
    deleteHttp01(token) {
      http.delete(token)
      return Promise.resolve()
    },
  }
}
