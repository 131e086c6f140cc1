/**
 * The Lua scripts behind Redis-backed limits, registered with ioredis `defineCommand` (EVAL on a
 * connection's first use, EVALSHA after). Each decision is one script call: one round trip, atomic.
 * Scripts read the Redis server's clock (`TIME`), so replicas with skewed clocks agree, and every
 * key they write gets a TTL. Each script touches one key, except the heartbeat, which the store
 * sends per key on Redis Cluster.
 */
import type { LimitRedisClient } from './client.js'

const NOW_US = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])`

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/**
 * GCRA, the same arithmetic as gcra.ts / memory/rate-table.ts (integer microseconds).
 * KEYS[1] theoretical arrival time (TAT). ARGV: emission interval T (µs), limit, cost.
 * Reply: {allowed 0|1, remaining, reset µs, retry-after µs}.
 */
export const RATE_LUA = `${NOW_US}
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local burst = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + cost * interval
if cost <= limit and new_tat - now <= burst then
  if new_tat > now then
    redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
  end
  return {1, math.floor((burst - (new_tat - now)) / interval), new_tat - now, 0}
end
local retry = burst
if cost <= limit then retry = new_tat - burst - now end
return {0, math.max(0, math.floor((burst - (tat - now)) / interval)), tat - now, retry}
`

/**
 * Lease semaphore (Redis in Action §6.3): a sorted set per limit key, member = lease id,
 * score = expiry in ms of Redis time.
 * KEYS[1] lease set. ARGV: max, lease TTL ms, lease id. Reply: 1 acquired, 0 full.
 */
export const ACQUIRE_LUA = `${NOW_MS}
local max = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`

/**
 * Renews the leases one store holds. A lease missing from its set (Redis restarted, or it expired
 * while its holder could not reach Redis) is added back only if the set has room, so a set never
 * holds more than max.
 * KEYS: lease sets. ARGV, per key in order: max, n, then n pairs (lease id, TTL ms).
 * Reply: how many leases could not be added back.
 */
export const HEARTBEAT_LUA = `${NOW_MS}
local a = 1
local missing = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local max = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local longest = 0
  for _ = 1, n do
    local id = ARGV[a]
    local ttl = tonumber(ARGV[a + 1])
    a = a + 2
    if redis.call('ZSCORE', key, id) or redis.call('ZCARD', key) < max then
      redis.call('ZADD', key, now + ttl, id)
      if ttl > longest then longest = ttl end
    else
      missing = missing + 1
    end
  end
  if longest > 0 and redis.call('PTTL', key) < longest then redis.call('PEXPIRE', key, longest) end
end
return missing
`

/** KEYS[1] lease set. Reply: leases not yet expired. */
export const COUNT_LUA = `${NOW_MS}
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now), '+inf')
`

export type RateReply = [allowed: number, remaining: number, resetUs: number, retryAfterUs: number]

/** The client with the limit scripts as commands. */
export interface LimitCommands {
  limitRate(key: string, intervalUs: number, limit: number, cost: number): Promise<RateReply>
  limitAcquire(key: string, max: number, ttlMs: number, id: string): Promise<number>
  limitHeartbeat(...keysThenArgs: (string | number)[]): Promise<number>
  limitCount(key: string): Promise<number>
}

export type ScriptedClient = LimitRedisClient & LimitCommands

export function defineLimitCommands(client: LimitRedisClient): ScriptedClient {
  client.defineCommand('limitRate', { lua: RATE_LUA, numberOfKeys: 1 })
  client.defineCommand('limitAcquire', { lua: ACQUIRE_LUA, numberOfKeys: 1 })
  // The number of keys varies per call; it is passed as the first argument.
  client.defineCommand('limitHeartbeat', { lua: HEARTBEAT_LUA })
  client.defineCommand('limitCount', { lua: COUNT_LUA, numberOfKeys: 1, readOnly: true })
  return client as ScriptedClient
}
