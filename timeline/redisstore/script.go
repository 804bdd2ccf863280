package redisstore

import "github.com/redis/go-redis/v9"

// recordScript applies one timeline.Batch atomically (see timeline.Batch for the rules). Running it
// in Redis makes the decision "open, join, append or ignore" and the writes one step, so replicas
// sharing a Redis and HA senders delivering the same batch concurrently cannot open two incidents or
// store a fact twice; it is also a single round trip per delivery.
//
// KEYS[1] group hash, KEYS[2..4] the all/active/resolved indexes.
// ARGV (see recordArgs): prefix, now, candidate id, title, severity, severity rank, started_at,
// started_ms, labels JSON, sources JSON, group TTL seconds, open always "1"|"0", delivery key,
// n services, services...,
// n links, links...,
// n snapshot fields, (name, value, at)...,
// n occurrences, (occurrence field, key, alias field, alias, state "f"|"r", at nanos, stored event)...,
// n keyed events, (dedupe keys joined by "\n", at nanos, stored event)...,
// resolve "1"|"0", resolved_at, resolution at nanos, resolution stored event,
// status to ("" for none), status at.
//
// Returns {incident id or "", opened, resolved, appended, duplicates, reopened, joined or merged}.
var recordScript = redis.NewScript(`
local gk = KEYS[1]
local P, now, ttl = ARGV[1], ARGV[2], ARGV[11]
local openAlways, dkey = ARGV[12] == '1', ARGV[13]
local i = 14
local function list(width)
  local n = tonumber(ARGV[i]); i = i + 1
  local out = {}
  for j = 1, n do
    local item = {}
    for k = 1, width do item[k] = ARGV[i + k - 1] end
    out[j] = item
    i = i + width
  end
  return out
end
local svcs, links, snaps = list(1), list(1), list(3)
-- The occurrences stay in ARGV, without a table each: occurrence j's seven fields start at
-- ARGV[occ0 + 7 * (j - 1)].
local nOcc = tonumber(ARGV[i])
local occ0 = i + 1
i = occ0 + 7 * nOcc
local evs = list(3)
local resolve, resolvedAt, rt, re = ARGV[i] == '1', ARGV[i+1], ARGV[i+2], ARGV[i+3]
local statusTo, statusAt = ARGV[i+4], ARGV[i+5]

-- The group hash is read with one HMGET (its version and incident, the state of every occurrence
-- of the batch and the alias of every resolved one; not "last", rarely needed, and a field that is
-- absent costs a scan of the whole hash while it is small) and its occurrence and alias
-- fields are written with one HSET at the end: Redis' cost is per call more than per field.
local hv
do
  local fields, n = {'v', 'cur'}, 2
  for b = occ0, occ0 + 7 * (nOcc - 1), 7 do
    n = n + 1; fields[n] = ARGV[b]
    if ARGV[b+4] == 'r' then n = n + 1; fields[n] = ARGV[b+2] end
  end
  if n <= 1000 then
    hv = redis.call('HMGET', gk, unpack(fields))
  else
    hv = {}
    for j = 1, n, 1000 do
      local part = redis.call('HMGET', gk, unpack(fields, j, math.min(j + 999, n)))
      for k = 1, #part do hv[j + k - 1] = part[k] end
    end
  end
end

-- Occurrence and alias fields are hashes of the keys (see keys.go). A group written before they
-- were ("legacy": it exists and has no "v") is also looked up by the old names, "o:<key>" and
-- "a:<alias>", so deliveries during an upgrade stay idempotent.
local fresh, legacy = false, false
if not hv[1] then
  fresh = redis.call('EXISTS', gk) == 0
  legacy = not fresh
end

-- A whole delivery seen before (PagerDuty's X-Webhook-Id) changes nothing.
if dkey ~= '' and redis.call('HSETNX', gk, 'w:' .. dkey, 1) == 0 then
  return {hv[2] or '', 0, 0, 0, nOcc + #evs, 0, 0}
end

-- state[field]: an occurrence's state as the batch has decided so far; preAlias[j]: resolved
-- occurrence j's alias field before the batch.
local state, preAlias = {}, {}
do
  local k = 2
  for j = 1, nOcc do
    local b = occ0 + 7 * (j - 1)
    local of = ARGV[b]
    k = k + 1
    if state[of] == nil then
      local s = hv[k]
      if not s and legacy then s = redis.call('HGET', gk, 'o:' .. ARGV[b+1]) end
      state[of] = s or false
    end
    if ARGV[b+4] == 'r' then k = k + 1; preAlias[j] = hv[k] end
  end
end
local function occ(field)
  local s = state[field]
  if s == nil then
    s = redis.call('HGET', gk, field) or false
    state[field] = s
  end
  return s
end
-- Transition n: occurrence tJ[n] moves the occurrence field tF[n] to state tSt[n]; tRe[n] is the
-- field of the key it arrived with when that is another one (a resolution found by its alias).
local tJ, tF, tSt, tRe, nT, dups, firingNew = {}, {}, {}, {}, 0, 0, false
for j = 1, nOcc do
  local b = occ0 + 7 * (j - 1)
  local of, st = ARGV[b], ARGV[b+4]
  local cur = occ(of)
  if st == 'f' then
    if cur then dups = dups + 1 else
      nT = nT + 1; tJ[nT], tF[nT], tSt[nT], tRe[nT] = j, of, 'f', false
      state[of] = 'f'; firingNew = true
    end
  elseif cur == 'r' then dups = dups + 1
  elseif cur == 'f' then
    nT = nT + 1; tJ[nT], tF[nT], tSt[nT], tRe[nT] = j, of, 'r', false
    state[of] = 'r'
  else
    local ak = preAlias[j]
    if not ak and legacy then
      local old = redis.call('HGET', gk, 'a:' .. ARGV[b+3])
      if old then ak = 'o:' .. old end
    end
    if ak and occ(ak) == 'f' then
      -- Remember the key it arrived with too, so a repeat of this delivery is a duplicate.
      nT = nT + 1; tJ[nT], tF[nT], tSt[nT], tRe[nT] = j, ak, 'r', of
      state[ak] = 'r'; state[of] = 'r'
    else
      nT = nT + 1; tJ[nT], tF[nT], tSt[nT], tRe[nT] = j, of, 'r', false
      state[of] = 'r'
    end
  end
end

local function exists(id) return redis.call('EXISTS', P .. ':i:' .. id) == 1 end
local id = hv[2]
-- An incident removed after its retention (RemoveTimeline) is never written to again.
if id and not exists(id) then id = false end
local opened, joined, late = 0, 0, false
local wants = firingNew or openAlways or nT > 0
if not id and wants then
  -- Another source's unresolved incident for the same outage (Alertmanager's dedup key).
  for _, l in ipairs(links) do
    local lid = redis.call('GET', P .. ':l:' .. l[1])
    if lid and exists(lid) and redis.call('HGET', P .. ':i:' .. lid, 'status') ~= 'resolved' then
      id, joined = lid, 1
      break
    end
  end
end
if not id and not firingNew and not openAlways and nT > 0 then
  -- Resolutions only, with no open incident: they finish the group's last incident (e.g. alerts
  -- that max_alerts left out of the notification that resolved it).
  local last = redis.call('HGET', gk, 'last')
  if last and exists(last) then id, late = last, true end
end
if not id then
  if not (firingNew or openAlways or (resolve and nT > 0)) then
    return {'', 0, 0, 0, dups + #evs, 0, 0}
  end
  id = ARGV[3]
  opened = 1
  redis.call('HSET', P .. ':i:' .. id, 'id', id, 'title', ARGV[4], 'status', 'open',
    'severity', ARGV[5], 'sev_rank', ARGV[6], 'started_at', ARGV[7], 'started_ms', ARGV[8],
    'resolved_at', '', 'status_at', '', 'labels', ARGV[9], 'sources', ARGV[10], 'created_at', now,
    'events', 0)
  redis.call('ZADD', KEYS[2], ARGV[8], id)
  redis.call('ZADD', KEYS[3], ARGV[8], id)
end
-- The group's incident and the one a link points at are the same outage, seen by two senders before
-- either knew of the other (deliveries out of order): fold the group's incident into the linked one.
local merged = 0
if id and opened == 0 and joined == 0 then
  for _, l in ipairs(links) do
    local lid = redis.call('GET', P .. ':l:' .. l[1])
    if lid and lid ~= id and exists(lid) then
      local from, to = P .. ':i:' .. id, P .. ':i:' .. lid
      for _, e in ipairs(redis.call('XRANGE', from .. ':e', '-', '+')) do
        redis.call('XADD', to .. ':e', '*', unpack(e[2]))
      end
      for _, suffix in ipairs({':d', ':r'}) do
        local h = redis.call('HGETALL', from .. suffix)
        if #h > 0 then redis.call('HSET', to .. suffix, unpack(h)) end
      end
      redis.call('SUNIONSTORE', to .. ':s', to .. ':s', from .. ':s')
      local src = cjson.decode(redis.call('HGET', to, 'sources') or '{}')
      for k, v in pairs(cjson.decode(redis.call('HGET', from, 'sources') or '{}')) do
        if src[k] == nil then src[k] = v end
      end
      redis.call('HSET', to, 'sources', cjson.encode(src))
      redis.call('HINCRBY', to, 'events', tonumber(redis.call('HGET', from, 'events') or '0'))
      if tonumber(redis.call('HGET', from, 'sev_rank') or '-1') > tonumber(redis.call('HGET', to, 'sev_rank') or '-1') then
        redis.call('HSET', to, 'severity', redis.call('HGET', from, 'severity'), 'sev_rank', redis.call('HGET', from, 'sev_rank'))
      end
      if (redis.call('HGET', from, 'status_at') or '') > (redis.call('HGET', to, 'status_at') or '') then
        redis.call('HSET', to, 'status', redis.call('HGET', from, 'status'),
          'resolved_at', redis.call('HGET', from, 'resolved_at'), 'status_at', redis.call('HGET', from, 'status_at'),
          'resolution_seen_at', redis.call('HGET', from, 'resolution_seen_at') or '')
      end
      local toStarted = redis.call('HGET', to, 'started_ms')
      for _, x in ipairs({KEYS[2], KEYS[3], KEYS[4]}) do redis.call('ZREM', x, id) end
      redis.call('ZADD', KEYS[2], toStarted, lid)
      if redis.call('HGET', to, 'status') == 'resolved' then
        redis.call('ZREM', KEYS[3], lid); redis.call('ZADD', KEYS[4], toStarted, lid)
      else
        redis.call('ZREM', KEYS[4], lid); redis.call('ZADD', KEYS[3], toStarted, lid)
      end
      redis.call('DEL', from, from .. ':e', from .. ':d', from .. ':s', from .. ':r')
      redis.call('SET', P .. ':m:' .. id, lid, 'EX', ttl)
      id, merged = lid, 1
      break
    end
  end
end
local ik = P .. ':i:' .. id
local ek = ik .. ':e'
if opened == 1 or joined == 1 or merged == 1 then
  redis.call('HSET', gk, 'cur', id)
  for _, l in ipairs(links) do redis.call('SET', P .. ':l:' .. l[1], id, 'EX', ttl) end
end
if joined == 1 then
  -- Merge the joining source's references into the incident's.
  local src = cjson.decode(redis.call('HGET', ik, 'sources') or '{}')
  for k, v in pairs(cjson.decode(ARGV[10])) do if src[k] == nil then src[k] = v end end
  redis.call('HSET', ik, 'sources', cjson.encode(src))
end

-- Last-known values per group, so a fact can say what changed "from": a placeholder {{from:NAME}}
-- in a new event becomes " from OLD" when the event is the newest word on NAME, else "".
local froms = {}
for _, s in ipairs(snaps) do
  local name, val, at = s[1], s[2], s[3]
  local oldAt = redis.call('HGET', gk, 'sa:' .. name) or ''
  if at >= oldAt then
    local old = redis.call('HGET', gk, 's:' .. name)
    if old and old ~= val then froms[name] = ' from ' .. old end
    redis.call('HSET', gk, 's:' .. name, val, 'sa:' .. name, at)
  end
end
local function fill(e)
  if string.byte(e, 1) ~= 123 then return e end -- a compressed event holds no placeholder
  return (string.gsub(e, '{{from:([%w_]+)}}', function(name) return froms[name] or '' end))
end

-- The transitions' writes to occurrence and alias fields go out as one HSET (it applies them in
-- order: the last value of a field wins), then one HDEL of the alias fields the batch left deleted.
-- aliasNow[af] is an alias field's value as the batch has left it so far (false: deleted).
local appended = 0
if nT > 0 then
  local hs, nhs, aliasNow, dels = {}, 0, {}, nil
  for n = 1, nT do
    local j, of, st, re = tJ[n], tF[n], tSt[n], tRe[n]
    local b = occ0 + 7 * (j - 1)
    local af, alias, key = ARGV[b+2], ARGV[b+3], ARGV[b+1]
    if re then key = nil end
    hs[nhs+1] = of; hs[nhs+2] = st; nhs = nhs + 2
    if re then hs[nhs+1] = re; hs[nhs+2] = 'r'; nhs = nhs + 2 end
    if st == 'f' then
      hs[nhs+1] = af; hs[nhs+2] = of; nhs = nhs + 2
      aliasNow[af] = of
    else
      local a = aliasNow[af]
      if a == nil then a = preAlias[j] end
      if a == of then
        aliasNow[af] = false
        dels = dels or {}
        dels[#dels+1] = af
      end
      if legacy then
        local old = redis.call('HGET', gk, 'a:' .. alias)
        if old and (old == key or 'o:' .. old == of) then redis.call('HDEL', gk, 'a:' .. alias) end
      end
    end
    redis.call('XADD', ek, '*', 't', ARGV[b+5], 'e', ARGV[b+6])
    appended = appended + 1
    if nhs >= 1000 then redis.call('HSET', gk, unpack(hs, 1, nhs)); nhs = 0 end
  end
  if nhs > 0 then redis.call('HSET', gk, unpack(hs, 1, nhs)) end
  if dels then
    local gone, n = {}, 0
    for _, af in ipairs(dels) do
      if aliasNow[af] == false then n = n + 1; gone[n] = af; aliasNow[af] = nil end
    end
    for j = 1, n, 1000 do redis.call('HDEL', gk, unpack(gone, j, math.min(j + 999, n))) end
  end
end
for _, ev in ipairs(evs) do
  local keys, seen = {}, false
  for k in string.gmatch(ev[1], '[^\n]+') do
    keys[#keys+1] = k
    -- The first key is the event's own name; the others are names it may also be found under (a
    -- PagerDuty log entry's type and second), kept as 'a'. An 'a' makes a later event with that
    -- name as its own a duplicate (the backfill of the same change), but not another event that
    -- merely shares the alternative name (two notes in one second are two facts).
    local v = redis.call('HGET', ik .. ':d', k)
    if v and (#keys == 1 or v ~= 'a') then seen = true end
  end
  if seen then
    dups = dups + 1
  else
    for j, k in ipairs(keys) do
      if j == 1 then redis.call('HSET', ik .. ':d', k, 1) else redis.call('HSETNX', ik .. ':d', k, 'a') end
    end
    redis.call('XADD', ek, '*', 't', ev[2], 'e', fill(ev[3]))
    appended = appended + 1
  end
end
if opened == 0 and tonumber(ARGV[6]) > tonumber(redis.call('HGET', ik, 'sev_rank') or '-1') then
  redis.call('HSET', ik, 'severity', ARGV[5], 'sev_rank', ARGV[6])
end
for j = 1, #svcs, 500 do
  local chunk = {}
  for k = j, math.min(j + 499, #svcs) do chunk[#chunk+1] = svcs[k][1] end
  redis.call('SADD', ik .. ':s', unpack(chunk))
end

-- Status changes apply in the sources' time order: an older word never overrides a newer one.
local resolved, reopened = 0, 0
local function setStatus(to, at)
  if at < (redis.call('HGET', ik, 'status_at') or '') then return end
  local cur = redis.call('HGET', ik, 'status')
  local started = redis.call('HGET', ik, 'started_ms')
  if to == 'resolved' then
    if cur ~= 'resolved' then
      redis.call('HSET', ik, 'status', 'resolved', 'resolved_at', at, 'resolution_seen_at', now)
      redis.call('ZREM', KEYS[3], id)
      redis.call('ZADD', KEYS[4], started, id)
      resolved = 1
    end
  else
    if cur == 'resolved' then
      redis.call('HSET', ik, 'resolved_at', '', 'resolution_seen_at', '')
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZADD', KEYS[3], started, id)
      reopened = 1
    end
    redis.call('HSET', ik, 'status', to)
  end
  redis.call('HSET', ik, 'status_at', at)
end

if late then
  if resolve and resolvedAt > (redis.call('HGET', ik, 'resolved_at') or '') and
      redis.call('HGET', ik, 'status') == 'resolved' then
    redis.call('HSET', ik, 'resolved_at', resolvedAt)
  end
elseif resolve then
  -- The group's episode is over whatever the incident's status says now.
  redis.call('HDEL', gk, 'cur')
  redis.call('HSET', gk, 'last', id)
  setStatus('resolved', resolvedAt)
  redis.call('XADD', ek, '*', 't', rt, 'e', re)
  appended = appended + 1
end
if statusTo ~= '' then setStatus(statusTo, statusAt) end

if appended > 0 or opened == 1 or joined == 1 or merged == 1 or resolved == 1 or reopened == 1 then
  redis.call('HINCRBY', ik, 'events', appended)
  redis.call('HSET', ik, 'updated_at', now)
end
if fresh then redis.call('HSET', gk, 'v', '2') end
redis.call('EXPIRE', gk, ttl)
return {id, opened, resolved, appended, dups, reopened, math.max(joined, merged)}
`)
