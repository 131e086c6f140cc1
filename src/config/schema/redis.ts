/** GatewayConfig `redis`: where rate and connection limits are shared by every replica. */
import { arr, duration, int, obj, port, req, str, type Infer } from './dsl.js'

const endpoint = obj(
  { host: req(str({ nonEmpty: true })), port: req(port()) },
  { name: 'RedisEndpoint' },
)

export const redisSettings = obj(
  {
    url: str({
      nonEmpty: true,
      check: (v) =>
        /^rediss?:\/\//.test(v) ? undefined : `"${v}" is not a redis:// or rediss:// URL`,
    }),
    sentinels: arr(endpoint, { min: 1 }),
    name: str({ nonEmpty: true }),
    cluster: arr(endpoint, { min: 1 }),
    username: str({ nonEmpty: true }),
    passwordFile: str({ nonEmpty: true }),
    tls: obj(
      {
        caFile: str({ nonEmpty: true }),
        certFile: str({ nonEmpty: true }),
        keyFile: str({ nonEmpty: true }),
        servername: str({ nonEmpty: true }),
      },
      { name: 'RedisTLS' },
    ),
    keyPrefix: str(),
    commandTimeout: duration(),
    connectTimeout: duration(),
    expectedReplicas: int({ min: 1, max: 10_000 }),
    leaseTtl: duration({ minMs: 30 }),
    acme: obj(
      {
        encryptionKeyFile: str({ nonEmpty: true }),
        lockTtl: duration({ minMs: 1000 }),
      },
      { name: 'RedisAcme' },
    ),
  },
  {
    name: 'Redis',
    oneOf: [['url', 'sentinels', 'cluster']],
    check: (v, ctx, path) => {
      if (v.url === undefined && v.sentinels === undefined && v.cluster === undefined) {
        ctx.issues.push({
          code: 'PC1103',
          path,
          message: 'one of url, sentinels (with name) or cluster is required',
        })
      }
      if (v.sentinels !== undefined && v.name === undefined) {
        ctx.issues.push({
          code: 'PC1103',
          path: [...path, 'name'],
          message: 'name (the Sentinel master group) is required with sentinels',
        })
      }
    },
  },
)
export type RedisSettingsSpec = Infer<typeof redisSettings>
