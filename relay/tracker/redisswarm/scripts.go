package redisswarm

import "github.com/redis/go-redis/v9"

// Entries are stored per info hash and kind: a hash from the entry's key
// to "C|RELAY|PEERID|ADDR" (C 1 for a seed, RELAY "-" for HTTP peers, ADDR
// "-" for WebSocket peers) and a sorted set from the key to its expiry in
// Unix milliseconds. The relays' heartbeats are a sorted set from relay id
// to expiry.

// announceScript prunes a swarm's expired entries, applies an announce,
// counts the swarm and picks peers.
//
// KEYS: this kind's hash and expiries, the other kind's hash and
// expiries, the completed counter, the relays, the counts' cache.
// ARGV: now, the entry's expiry, key, value, op ("put", "stop" or
// "read"), peers wanted, most entries per kind, "1" for a completed event,
// key lifetime (ms), index in KEYS of the WebSocket hash (1 or 3), the
// counts' cache lifetime (ms).
//
// Only well-formed entries (a WebSocket peer's of a live relay) are
// counted and picked. Counting walks the whole swarm, so the counts are
// cached and kept up to date by the announces; the cache is dropped when
// entries expire and lives at most HeartbeatTTL, after which the peers of
// a relay that died are no longer counted.
//
// Returns {complete, incomplete, downloaded, {key, value, key, value...}}.
var announceScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local wsIdx = tonumber(ARGV[10])
local cache = KEYS[7]
local live = {}
local function alive(k, v, ws)
  local relay, id, addr = string.match(v, '^[01]|([^|]+)|(%x+)|([^|]+)$')
  if relay == nil or #id ~= 40 then return false end
  if not ws then return addr == k end
  if id ~= k then return false end
  if live[relay] == nil then
    local exp = redis.call('ZSCORE', KEYS[6], relay)
    live[relay] = exp ~= false and tonumber(exp) > now
  end
  return live[relay]
end
local function field(v)
  if string.sub(v, 1, 1) == '1' then return 'c' end
  return 'i'
end
local cached = redis.call('EXISTS', cache) == 1
local function adjust(v, by)
  if cached then redis.call('HINCRBY', cache, field(v), by) end
end
for i = 1, 3, 2 do
  local old = redis.call('ZRANGEBYSCORE', KEYS[i+1], '-inf', now, 'LIMIT', 0, 500)
  if #old > 0 then
    redis.call('HDEL', KEYS[i], unpack(old))
    redis.call('ZREM', KEYS[i+1], unpack(old))
    redis.call('DEL', cache)
    cached = false
  end
end
local key, val, op = ARGV[3], ARGV[4], ARGV[5]
if op == 'stop' then
  local had = redis.call('HGET', KEYS[1], key)
  if had then
    redis.call('HDEL', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key)
    adjust(had, -1)
  end
elseif op == 'put' then
  local had = redis.call('HGET', KEYS[1], key)
  if had or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[7]) then
    redis.call('HSET', KEYS[1], key, val)
    redis.call('ZADD', KEYS[2], ARGV[2], key)
    if had then adjust(had, -1) end
    adjust(val, 1)
    if ARGV[8] == '1' and (not had or string.sub(had, 1, 1) ~= '1') then
      redis.call('INCR', KEYS[5])
    end
  end
end
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[9]) end
local complete, incomplete = 0, 0
if cached then
  local c = redis.call('HMGET', cache, 'c', 'i')
  complete, incomplete = tonumber(c[1]) or 0, tonumber(c[2]) or 0
else
  for i = 1, 3, 2 do
    local all = redis.call('HGETALL', KEYS[i])
    for j = 1, #all, 2 do
      if alive(all[j], all[j + 1], i == wsIdx) then
        if field(all[j + 1]) == 'c' then complete = complete + 1 else incomplete = incomplete + 1 end
      end
    end
  end
  redis.call('HSET', cache, 'c', complete, 'i', incomplete)
  redis.call('PEXPIRE', cache, ARGV[11])
end
local downloaded = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
local out = {}
local n = tonumber(ARGV[6])
if n > 0 then
  local r = redis.call('HRANDFIELD', KEYS[1], 2 * n + 1, 'WITHVALUES')
  for j = 1, #r, 2 do
    if #out >= 2 * n then break end
    if r[j] ~= key and alive(r[j], r[j + 1], wsIdx == 1) then
      table.insert(out, r[j])
      table.insert(out, r[j + 1])
    end
  end
end
return {math.max(complete, 0), math.max(incomplete, 0), downloaded, out}
`)

// lookupScript returns the live value of one entry, or false.
//
// KEYS: the kind's hash and expiries, the relays. ARGV: now, key, "1" when
// the kind is WebSocket peers (whose relay must be alive).
var lookupScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then return false end
local exp = redis.call('ZSCORE', KEYS[2], ARGV[2])
if exp == false or tonumber(exp) <= now then return false end
if ARGV[3] == '1' then
  local relay = string.match(v, '^[01]|([^|]+)|')
  if relay == nil then return v end
  local r = redis.call('ZSCORE', KEYS[3], relay)
  if r == false or tonumber(r) <= now then return false end
end
return v
`)
