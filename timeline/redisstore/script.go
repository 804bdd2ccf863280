package redisstore

import "github.com/redis/go-redis/v9"

// recordScript applies one timeline.Batch atomically (see timeline.Batch for the rules). Running it
// in Redis makes the decision "open, append or ignore" and the writes one step, so replicas sharing a
// Redis and HA senders delivering the same batch concurrently cannot open two incidents or store a
// fact twice; it is also a single round trip per delivery.
//
// KEYS[1] group hash, KEYS[2..4] the all/active/resolved indexes.
// ARGV: prefix, now, candidate id, title, severity, severity rank, started_at, started_ms,
// labels JSON, sources JSON, group TTL seconds,
// n services, services...,
// n occurrences, (key, alias, state "f"|"r", at nanos, event JSON)...,
// n keyed events, (dedupe key, at nanos, event JSON)...,
// resolve "1"|"0", resolved_at, resolution at nanos, resolution event JSON.
//
// Returns {incident id or "", opened 0|1, resolved 0|1, appended, duplicates}.
var recordScript = redis.NewScript(`
local gk = KEYS[1]
local P, now = ARGV[1], ARGV[2]
local i = 12
local nsvc = tonumber(ARGV[i]); i = i + 1
local svcs = {}
for j = 1, nsvc do svcs[j] = ARGV[i]; i = i + 1 end

-- Decide which occurrence transitions are news, without writing yet.
local state = {}
local function occ(key)
  local s = state[key]
  if s == nil then s = redis.call('HGET', gk, 'o:' .. key) or false; state[key] = s end
  return s
end
local trans, dups, firingNew = {}, 0, false
local nocc = tonumber(ARGV[i]); i = i + 1
for j = 1, nocc do
  local key, alias, st, t, e = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  i = i + 5
  local cur = occ(key)
  if st == 'f' then
    if cur then dups = dups + 1 else
      trans[#trans+1] = {key, alias, 'f', t, e}; state[key] = 'f'; firingNew = true
    end
  elseif cur == 'r' then dups = dups + 1
  elseif cur == 'f' then
    trans[#trans+1] = {key, alias, 'r', t, e}; state[key] = 'r'
  else
    local ak = redis.call('HGET', gk, 'a:' .. alias)
    if ak and occ(ak) == 'f' then
      -- Remember the key it arrived with too, so a repeat of this delivery is a duplicate.
      trans[#trans+1] = {ak, alias, 'r', t, e, key}; state[ak] = 'r'; state[key] = 'r'
    else
      trans[#trans+1] = {key, alias, 'r', t, e}; state[key] = 'r'
    end
  end
end
local nev = tonumber(ARGV[i]); i = i + 1
local evs = {}
for j = 1, nev do evs[j] = {ARGV[i], ARGV[i+1], ARGV[i+2]}; i = i + 3 end
local resolve, resolvedAt, rt, re = ARGV[i] == '1', ARGV[i+1], ARGV[i+2], ARGV[i+3]

local id = redis.call('HGET', gk, 'cur')
local opened, late = 0, false
if not id and not firingNew and #trans > 0 then
  -- Resolutions only, with no open incident: they finish the group's last incident (e.g. alerts
  -- that max_alerts left out of the notification that resolved it).
  local last = redis.call('HGET', gk, 'last')
  if last and redis.call('EXISTS', P .. ':i:' .. last) == 1 then id, late = last, true end
end
if not id then
  if not (firingNew or (resolve and #trans > 0)) then
    return {'', 0, 0, 0, dups + nev}
  end
  id = ARGV[3]
  opened = 1
  redis.call('HSET', P .. ':i:' .. id, 'id', id, 'title', ARGV[4], 'status', 'open',
    'severity', ARGV[5], 'sev_rank', ARGV[6], 'started_at', ARGV[7], 'started_ms', ARGV[8],
    'resolved_at', '', 'labels', ARGV[9], 'sources', ARGV[10], 'created_at', now, 'events', 0)
  redis.call('ZADD', KEYS[2], ARGV[8], id)
  redis.call('ZADD', KEYS[3], ARGV[8], id)
  redis.call('HSET', gk, 'cur', id)
end
local ik = P .. ':i:' .. id
local ek = ik .. ':e'
local appended = 0
for _, tr in ipairs(trans) do
  local key, alias, st = tr[1], tr[2], tr[3]
  redis.call('HSET', gk, 'o:' .. key, st)
  if tr[6] then redis.call('HSET', gk, 'o:' .. tr[6], 'r') end
  if st == 'f' then
    redis.call('HSET', gk, 'a:' .. alias, key)
  elseif redis.call('HGET', gk, 'a:' .. alias) == key then
    redis.call('HDEL', gk, 'a:' .. alias)
  end
  redis.call('XADD', ek, '*', 't', tr[4], 'e', tr[5])
  appended = appended + 1
end
for _, ev in ipairs(evs) do
  if redis.call('HSETNX', ik .. ':d', ev[1], 1) == 1 then
    redis.call('XADD', ek, '*', 't', ev[2], 'e', ev[3])
    appended = appended + 1
  else
    dups = dups + 1
  end
end
if opened == 0 and tonumber(ARGV[6]) > tonumber(redis.call('HGET', ik, 'sev_rank') or '-1') then
  redis.call('HSET', ik, 'severity', ARGV[5], 'sev_rank', ARGV[6])
end
for j = 1, nsvc, 500 do
  redis.call('SADD', ik .. ':s', unpack(svcs, j, math.min(j + 499, nsvc)))
end
local resolved = 0
if late then
  if resolve and resolvedAt > (redis.call('HGET', ik, 'resolved_at') or '') then
    redis.call('HSET', ik, 'resolved_at', resolvedAt)
  end
elseif resolve then
  resolved = 1
  local started = redis.call('HGET', ik, 'started_ms')
  redis.call('HSET', ik, 'status', 'resolved', 'resolved_at', resolvedAt)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], started, id)
  redis.call('HDEL', gk, 'cur')
  redis.call('HSET', gk, 'last', id)
  redis.call('XADD', ek, '*', 't', rt, 'e', re)
  appended = appended + 1
end
if appended > 0 or opened == 1 then
  redis.call('HINCRBY', ik, 'events', appended)
  redis.call('HSET', ik, 'updated_at', now)
end
redis.call('EXPIRE', gk, ARGV[11])
return {id, opened, resolved, appended, dups}
`)
