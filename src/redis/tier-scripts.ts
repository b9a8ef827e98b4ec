/**
 * Lua for the Redis tier. Every script touches one key's three Redis keys, which share a hash slot through the
 * `{key}` tag, so each runs atomically on standalone Redis and on Cluster.
 *   KEYS[1] `…{key}:v` the value blob (string, PX ttl + grace)
 *   KEYS[2] `…{key}:t` the fence: hash { t = version token, l = highest invalidation LSN } (PX fenceTtl)
 *   KEYS[3] `…{key}:k` the lease: hash { o = holder's lease id, w = '1' once someone waits } (PX lease ttl)
 * Waiters are told on one channel with `key \n f<blob>` (filled) or `key \n x` (given up: load yourselves).
 */

const LSN = `
local function lsn(s)
  local hi, lo = string.match(s or '', '^(%x+)/(%x+)$')
  if hi == nil then return nil end
  return tonumber(hi, 16), tonumber(lo, 16)
end
local function later(a, b)
  if a == nil or a == false or a == '' then return b end
  if b == nil or b == false or b == '' then return a end
  local ah, al = lsn(a)
  local bh, bl = lsn(b)
  if ah == nil then return b end
  if bh == nil then return a end
  if ah > bh or (ah == bh and al >= bl) then return a end
  return b
end
`

/**
 * The replicas to wait for and the master's replication id, returned by the scripts that change a token or a tag
 * set: the tier then waits (`WAIT`) until that many replicas hold the change, on a connection it checks still
 * reaches the same master (a promoted replica takes a new replication id), so no confirmed change is lost to a
 * failover. The count is the connected replicas, and on Cluster (`cluster` = '1') at least every replica the
 * cluster does not flag as failed: one whose link is down (paused, cut off) can still be promoted, so it is waited
 * for, and the change fails rather than be confirmed without it.
 */
const REPLICATION = `
local function replication(cluster)
  local info = redis.call('INFO', 'replication')
  local n = tonumber(string.match(info, 'connected_slaves:(%d+)')) or 0
  if cluster == '1' then
    local known = 0
    for _, line in ipairs(redis.call('CLUSTER', 'REPLICAS', redis.call('CLUSTER', 'MYID'))) do
      local flags = string.match(line, '^%S+ %S+ (%S+)') or ''
      if not string.find(flags .. ',', 'fail,', 1, true) then known = known + 1 end
    end
    if known > n then n = known end
  end
  return {n, string.match(info, 'master_replid:(%w+)') or ''}
end
`

/** KEYS[1] any key of the slot to check (routing only). -> the replication id of the node that ran it. */
export const REPLICATION_ID = `
return string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)') or ''
`

/** Tells the lease's waiters (if any) to load themselves, and drops the lease. */
const ABANDON = `
local function abandon(leaseKey, channel, key)
  if redis.call('HGET', leaseKey, 'w') then redis.call('PUBLISH', channel, key .. '\\n' .. 'x') end
  redis.call('DEL', leaseKey)
end
`

/**
 * ARGV: leaseId, leaseMs, newToken, fenceMs, now (ms). -> {1, blob} | {2, token, lsn} lease | {3, token, lsn} busy.
 * A blob past its logical expiry (kept for grace) counts as absent, so one instance refreshes it under the lease.
 */
export const ACQUIRE = `
local v = redis.call('GET', KEYS[1])
if v then
  local e = tonumber(string.match(v, '^[vn](%d+)|'))
  if e == nil or e > tonumber(ARGV[5]) then return {1, v} end
end
local t = redis.call('HGET', KEYS[2], 't')
if not t then
  t = ARGV[3]
  redis.call('HSET', KEYS[2], 't', t)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
local l = redis.call('HGET', KEYS[2], 'l') or ''
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], 'o', ARGV[1])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
  return {2, t, l}
end
redis.call('HSET', KEYS[3], 'w', '1')
return {3, t, l}
`

/** ARGV: token, blob, ttlMs, leaseId ('' = none), channel, key. Compare-and-set on the token. -> 1 stored | 0 */
export const FILL = `
local ok = redis.call('HGET', KEYS[2], 't') == ARGV[1]
if ok then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[3], 'o') == ARGV[4] then
  if redis.call('HGET', KEYS[3], 'w') then
    if ok then
      redis.call('PUBLISH', ARGV[5], ARGV[6] .. '\\n' .. 'f' .. ARGV[2])
    else
      redis.call('PUBLISH', ARGV[5], ARGV[6] .. '\\n' .. 'x')
    end
  end
  redis.call('DEL', KEYS[3])
end
if ok then return 1 end
return 0
`

/** KEYS: lease only. ARGV: leaseId, channel, key. */
export const RELEASE = `
${ABANDON}
if redis.call('HGET', KEYS[1], 'o') == ARGV[1] then abandon(KEYS[1], ARGV[2], ARGV[3]) end
return 1
`

/**
 * ARGV: newToken, lsn ('' = none), fenceMs, channel, key, blob ('' = invalidate; else a write), ttlMs, a bus
 * channel and message ('' = none), published last: the message exists only once the change is applied, and
 * cluster ('1' on Cluster). -> replication() (see above).
 */
export const INVALIDATE = `
${LSN}
${ABANDON}
${REPLICATION}
local l = later(redis.call('HGET', KEYS[2], 'l'), ARGV[2])
redis.call('HSET', KEYS[2], 't', ARGV[1])
if l and l ~= '' then redis.call('HSET', KEYS[2], 'l', l) end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if ARGV[6] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[7])
end
abandon(KEYS[3], ARGV[4], ARGV[5])
if ARGV[8] and ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[9]) end
return replication(ARGV[10])
`

/**
 * KEYS[1] a tag's set; ARGV: key, ttl (ms), cluster ('1' on Cluster). Adds the key; the set's lifetime only grows, so a key cached for
 * less time cannot cut short the set a longer-lived key of the same tag is in. -> replication() (see above): a
 * membership lost to a failover would let a later tag invalidation miss the key.
 */
export const ADD_TAG = `
${REPLICATION}
redis.call('SADD', KEYS[1], ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 or left < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return replication(ARGV[3])
`

/** KEYS: a tag set. Takes its members and empties it in one step, so no member added meanwhile is lost. */
export const TAKE_TAG = `
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
`
