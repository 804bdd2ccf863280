package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
)

// AddContext appends a context event (a note from a person) to an incident's timeline, once per
// dedupe key (see timeline.Annotator). It uses the incident's one event stream, so Entries, the
// timeline API and the drafts see notes like any other event, and the read cache picks them up as
// appended entries.
func (s *Store) AddContext(ctx context.Context, incidentID string, ke timeline.KeyedEvent) (ev timeline.Event, added bool, err error) {
	defer s.timed("add_context", &err)()
	if ke.Event.Kind != timeline.KindContext {
		return ev, false, fmt.Errorf("add context: %w: kind %q is not %q", timeline.ErrInvalid, ke.Event.Kind, timeline.KindContext)
	}
	if ke.DedupeKey == "" {
		return ev, false, fmt.Errorf("add context: %w: empty dedupe key", timeline.ErrInvalid)
	}
	keys := ke.DedupeKey
	for _, k := range ke.AltKeys {
		if strings.Contains(k, "\n") || k == "" {
			return ev, false, fmt.Errorf("add context: %w: malformed key %q", timeline.ErrInvalid, k)
		}
		keys += "\n" + k
	}
	if strings.Contains(ke.DedupeKey, "\n") {
		return ev, false, fmt.Errorf("add context: %w: malformed key %q", timeline.ErrInvalid, ke.DedupeKey)
	}
	b, err := json.Marshal(ke.Event)
	if err != nil {
		return ev, false, fmt.Errorf("add context: %w", err)
	}
	id := incidentID
	for hop := 0; hop < 3; hop++ {
		out, err := addContextScript.Run(ctx, s.rdb,
			[]string{s.incidentKey(id), s.dedupeKey(id), s.eventsKey(id), s.mergedKey(id)},
			keys, ke.Event.At.UnixNano(), b, s.now().UTC().Format(timeLayout)).StringSlice()
		if err != nil {
			return ev, false, s.wrap("add context", err)
		}
		if len(out) != 2 {
			return ev, false, fmt.Errorf("add context: unexpected script reply %v", out)
		}
		switch out[0] {
		case "new":
			return ke.Event, true, nil
		case "dup":
			if out[1] == "" || out[1] == "1" || out[1] == "a" {
				// The key belongs to an event a sender's batch stored: nothing to show back.
				return ke.Event, false, nil
			}
			if err := json.Unmarshal([]byte(out[1]), &ev); err != nil {
				return ev, false, fmt.Errorf("add context: stored event: %w", err)
			}
			return ev, false, nil
		case "moved":
			if out[1] == "" {
				return ev, false, fmt.Errorf("add context: incident %q: %w", incidentID, timeline.ErrNotFound)
			}
			id = out[1] // merged into another incident: append there
		default:
			return ev, false, fmt.Errorf("add context: unexpected script reply %v", out)
		}
	}
	return ev, false, fmt.Errorf("add context: incident %q: %w", incidentID, timeline.ErrNotFound)
}

// addContextScript appends one keyed event to an existing incident, with the same bookkeeping as
// recordScript's keyed events (dedupe hash, stream entry, event count, updated_at). The dedupe
// hash keeps the note's JSON under its keys, so a retry can answer with what was stored.
//
// KEYS[1] incident hash, KEYS[2] its dedupe hash, KEYS[3] its event stream, KEYS[4] its merge
// redirect. ARGV[1] keys joined by "\n", ARGV[2] at (Unix nanoseconds), ARGV[3] event JSON,
// ARGV[4] now.
//
// Returns {"new", ""}, {"dup", stored JSON or "1"}, or {"moved", id folded into or ""}.
var addContextScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'moved', redis.call('GET', KEYS[4]) or ''}
end
local keys = {}
for k in string.gmatch(ARGV[1], '[^\n]+') do
  keys[#keys+1] = k
  local v = redis.call('HGET', KEYS[2], k)
  if v then return {'dup', v} end
end
for _, k in ipairs(keys) do redis.call('HSET', KEYS[2], k, ARGV[3]) end
redis.call('XADD', KEYS[3], '*', 't', ARGV[2], 'e', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'events', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
return {'new', ''}
`)
