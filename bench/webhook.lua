-- wrk script for bench/load.sh: POSTs a captured Alertmanager payload to /webhook/alertmanager,
-- every request a NEW fact, as a real alert stream would be.
--
--   wrk ... -s bench/webhook.lua http://HOST:PORT/webhook/alertmanager -- \
--       <payload.json> <mode> <groups> <run> <group-name>
--
-- mode "single": each request gets a fresh fingerprint and startsAt (a new alert) and one of
--   <groups> groupKeys in turn, so that many incidents stay open and grow.
-- mode "storm": each request keeps the payload's alerts and fingerprints but gives all of them a
--   fresh startsAt (200 new occurrences), in one of <groups> groupKeys in turn.
-- <run> is a number that keeps fingerprints and times of different runs apart (one Redis serves
--   several runs); <group-name> names the groupKeys ({}:{alertname="<group-name>N"}).
-- Run it from the repository root (it loads bench/report.lua).
dofile("bench/report.lua")

local parts, holes = {}, {}
local mode, groups, run, gname = "single", 100, 0, "Load"
local counter, mytid = 0, 0
local nthreads = 0
local base = 1795439922 -- 2026-11-23T13:18:42Z

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
end

-- cut replaces the string value of every "name":"..." with a hole.
local function cut(body, name, marker)
  local out, pos = {}, 1
  while true do
    local s, e = body:find('"' .. name .. '":"', pos, true)
    if not s then break end
    local i = e + 1
    while true do
      local c = body:sub(i, i)
      if c == "\\" then i = i + 2
      elseif c == '"' or c == "" then break
      else i = i + 1 end
    end
    out[#out + 1] = body:sub(pos, e)
    out[#out + 1] = marker
    pos = i
  end
  out[#out + 1] = body:sub(pos)
  return table.concat(out)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  mode = args[2] or "single"
  groups = tonumber(args[3] or "100")
  run = tonumber(args[4] or "0") % 65536
  gname = args[5] or "Load"
  mytid = tonumber(rawget(_G, "tid") or 0) or 0 -- set by setup() through thread:set
  body = cut(body, "startsAt", "\1S\1")
  body = cut(body, "groupKey", "\1G\1")
  if mode == "single" then body = cut(body, "fingerprint", "\1F\1") end
  local pos = 1
  while true do
    local s, e, h = body:find("\1(%u)\1", pos)
    if not s then break end
    parts[#parts + 1] = body:sub(pos, s - 1)
    holes[#holes + 1] = h
    pos = e + 1
  end
  parts[#parts + 1] = body:sub(pos)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "Alertmanager/0.25.0"
end

function request()
  counter = counter + 1
  local n = counter * 64 + mytid -- unique across threads (up to 64)
  local startsAt = os.date("!%Y-%m-%dT%H:%M:%S", base + (run % 1000) * 86400 + (n % 86400)) ..
    string.format(".%09dZ", n % 1000000000)
  local fp = string.format("%04x%012x", run, n)
  -- Each thread walks every group in turn.
  local group = string.format('{}:{alertname=\\"%s%d\\"}', gname, (counter + mytid * 7) % groups)
  local out = { parts[1] }
  for i, h in ipairs(holes) do
    if h == "S" then out[#out + 1] = startsAt
    elseif h == "F" then out[#out + 1] = fp
    else out[#out + 1] = group end
    out[#out + 1] = parts[i + 1]
  end
  return wrk.format(nil, nil, nil, table.concat(out))
end
