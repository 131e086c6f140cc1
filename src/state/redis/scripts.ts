/**
 * The Lua scripts behind Redis-backed limits, called by SHA (EVALSHA, with EVAL only when Redis
 * does not know the script yet). Decisions go through BATCH_LUA: the rate decisions, lease
 * acquires and releases one replica asks for together are one script call (redis/batch.ts), each
 * operation atomic; it is sent as a hand-built command (sendBatchScript), the others through
 * ioredis `defineCommand`. Scripts read the Redis server's clock
 * (`TIME`), so replicas with skewed clocks agree, and every key they write gets a TTL. On Redis
 * Cluster a batch and a heartbeat touch one key each (keys live in different slots).
 */
import { createHash } from 'node:crypto'
import { ioredis, type LimitRedisClient } from './client.js'

const NOW_US = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])`

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

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

/**
 * Several decisions in one call: KEYS[i] is the key of operation i and ARGV[i] its code and
 * arguments in one string (one bulk string per operation for the gateway to write and Redis to
 * parse, rather than four):
 *   'r<interval µs>,<limit>,<cost>'  GCRA, the arithmetic of gcra.ts / memory/rate-table.ts on
 *                                    the key's theoretical arrival time (TAT, µs) → admitted:
 *                                    remaining, reset µs; refused: −(remaining + 1), reset µs,
 *                                    retry-after µs
 *   'a<max>,<TTL ms>,<lease id>'     lease semaphore (Redis in Action §6.3) on a sorted set,
 *                                    member = lease id, score = expiry in ms of Redis time: drop
 *                                    expired (once per set per call), count, add if under max
 *                                    → 1 acquired, 0 full
 *   'c…'                             as 'a', but only when the operation before it in this call
 *                                    acquired (a request's leases taken in order in one call)
 *   'z<lease id>'                    release (ZREM) → no value
 * The reply is every value in order, joined by commas: one bulk string for the gateway to read
 * rather than an array of integers. One TIME for the whole batch: the operations run one after
 * another inside one script, so they see the same instant, which is the order Redis would have
 * run separate scripts in anyway.
 */
export const BATCH_LUA = `${NOW_US}
local now_ms = math.floor(now / 1000)
local out = {}
local n = 0
local acquired = false
-- Per lease set, within this call (one instant): expired leases are dropped once, and its TTL
-- is checked once per lease TTL, however many acquires it gets.
local pruned = {}
local lasts = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local spec = ARGV[i]
  local op = string.sub(spec, 1, 1)
  if op == 'r' then
    local a, b, c = string.match(spec, '^r(%d+),(%d+),(%d+)$')
    local interval = tonumber(a)
    local limit = tonumber(b)
    local cost = tonumber(c)
    local burst = interval * limit
    local tat = tonumber(redis.call('GET', key))
    if not tat or tat < now then tat = now end
    local new_tat = tat + cost * interval
    n = n + 1
    if cost <= limit and new_tat - now <= burst then
      if new_tat > now then
        redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
      end
      out[n] = string.format('%d,%d', math.floor((burst - (new_tat - now)) / interval), new_tat - now)
    else
      local retry = burst
      if cost <= limit then retry = new_tat - burst - now end
      local remaining = math.max(0, math.floor((burst - (tat - now)) / interval))
      out[n] = string.format('%d,%d,%d', -remaining - 1, tat - now, retry)
    end
  elseif op == 'a' or op == 'c' then
    n = n + 1
    if op == 'c' and not acquired then
      out[n] = '0'
    else
      local a, b, id = string.match(spec, '^.(%d+),(%d+),(.+)$')
      local max = tonumber(a)
      local ttl = tonumber(b)
      if not pruned[key] then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
        pruned[key] = true
      end
      if redis.call('ZCARD', key) >= max then
        acquired = false
        out[n] = '0'
      else
        redis.call('ZADD', key, now_ms + ttl, id)
        if (lasts[key] or 0) < ttl then
          if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
          lasts[key] = ttl
        end
        acquired = true
        out[n] = '1'
      end
    end
  else
    redis.call('ZREM', key, string.sub(spec, 2))
    -- The last lease gone deletes the set: an acquire after this creates it without a TTL.
    lasts[key] = nil
  end
end
return table.concat(out, ',')
`

/**
 * Replica membership: a sorted set of replica ids scored by expiry. ARGV: this replica's id and
 * how long its entry lives, ms; an empty id only counts. Reply: the live replicas.
 */
export const MEMBERS_LUA = `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  end
end
return redis.call('ZCARD', KEYS[1])
`

/** KEYS[1] lease set. Reply: leases not yet expired. */
export const COUNT_LUA = `${NOW_MS}
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now), '+inf')
`

/** The client with the limit scripts as commands. */
export interface LimitCommands {
  limitHeartbeat(...keysThenArgs: (string | number)[]): Promise<number>
  limitCount(key: string): Promise<number>
  limitMembers(key: string, id: string, ttlMs: number): Promise<number>
}

export type ScriptedClient = LimitRedisClient & LimitCommands

export function defineLimitCommands(client: LimitRedisClient): ScriptedClient {
  // The number of keys varies per call; it is passed as the first argument.
  client.defineCommand('limitHeartbeat', { lua: HEARTBEAT_LUA })
  client.defineCommand('limitCount', { lua: COUNT_LUA, numberOfKeys: 1, readOnly: true })
  client.defineCommand('limitMembers', { lua: MEMBERS_LUA, numberOfKeys: 1 })
  return client as ScriptedClient
}

const BATCH_SHA = createHash('sha1').update(BATCH_LUA).digest('hex')

/**
 * One BATCH_LUA call: operation i is `keys[i]` and `specs[i]`; resolves with the reply's bytes.
 * Built by hand rather than through `defineCommand`, whose wrapper copies the arguments twice
 * more and chains two more promises per call, and with its own command timeout: a call the
 * batch held has already used part of the lease deadline (`timeoutMs` is what is left).
 */
export function sendBatchScript(
  client: LimitRedisClient,
  keys: readonly string[],
  specs: readonly string[],
  timeoutMs: number,
): Promise<Uint8Array> {
  return sendScript(client, 'evalsha', BATCH_SHA, keys, specs, timeoutMs).catch((err: unknown) => {
    // Redis restarted (or its script cache was flushed) since the script was last sent.
    if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err
    return sendScript(client, 'eval', BATCH_LUA, keys, specs, timeoutMs)
  })
}

function sendScript(
  client: LimitRedisClient,
  name: 'evalsha' | 'eval',
  script: string,
  keys: readonly string[],
  specs: readonly string[],
  timeoutMs: number,
): Promise<Uint8Array> {
  const n = keys.length
  const args = new Array<string>(2 + 2 * n)
  args[0] = script
  args[1] = String(n)
  for (let i = 0; i < n; i++) {
    args[2 + i] = keys[i]!
    args[2 + n + i] = specs[i]!
  }
  // No replyEncoding: the bulk reply stays the bytes Redis sent, read in place (batch.ts).
  const command = new (ioredis().Command)(name, args)
  // Before sendCommand, which only sets the client-wide timeout when none is set yet.
  command.setTimeout(timeoutMs)
  void client.sendCommand(command)
  return command.promise as Promise<Uint8Array>
}
