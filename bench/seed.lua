-- webhook.lua that stops each thread after <limit> responses (bench/load.sh uses it to store an
-- exact number of events), and prints the incident id of the last answer ("INCIDENT <id>").
--
--   wrk -t1 -c1 ... -s bench/seed.lua URL -- <payload.json> <mode> <groups> <run> <group-name> <limit>
dofile("bench/webhook.lua")

local limit, seen, last, bad, reported = 0, 0, "", 0, false
local init0 = init
function init(args)
  init0(args)
  limit = tonumber(args[6] or "0")
end

function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then bad = bad + 1 end
  local id = body and body:match('"incident_id":"([^"]+)"')
  if id then last = id end
  if limit > 0 and seen >= limit and not reported then
    reported = true
    io.write(string.format("INCIDENT %s responses=%d non200=%d\n", last, seen, bad))
    io.flush()
    wrk.thread:stop()
  end
end
