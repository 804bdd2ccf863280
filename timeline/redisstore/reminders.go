package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// A reminder (of an action item, a digest) is delivered once across replicas and restarts. Its
// record is a hash: state (sending, retry, sent, failed, abandoned), attempts, next (Unix ms of the
// next attempt while retrying) and lease (Unix ms until which a replica's attempt holds it).
//
// An attempt is claimed before it is made and settled after; a replica that dies during an attempt
// leaves "sending" behind. Whether that attempt reached the receiver is unknowable, and sending
// again could announce the reminder twice, so such a record becomes "abandoned" (reported once to
// the replica that finds it) and is not attempted again.

// beginReminderScript: KEYS[1] the record; ARGV now (ms), lease end (ms), TTL (ms).
// Returns the attempt number (>= 1) to make, 0 when there is nothing to do, -1 when an attempt was
// abandoned by its replica (reported once).
var beginReminderScript = redis.NewScript(`
local st = redis.call("HGET", KEYS[1], "state")
local now = tonumber(ARGV[1])
if st == "sent" or st == "failed" or st == "abandoned" then return 0 end
if st == "sending" then
  if tonumber(redis.call("HGET", KEYS[1], "lease") or "0") > now then return 0 end
  redis.call("HSET", KEYS[1], "state", "abandoned")
  return -1
end
if st == "retry" and tonumber(redis.call("HGET", KEYS[1], "next") or "0") > now then return 0 end
local n = redis.call("HINCRBY", KEYS[1], "attempts", 1)
redis.call("HSET", KEYS[1], "state", "sending", "lease", ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return n
`)

// finishReminderScript: KEYS[1] the record; ARGV state, next (ms).
var finishReminderScript = redis.NewScript(`
if redis.call("HGET", KEYS[1], "state") ~= "sending" then return 0 end
redis.call("HSET", KEYS[1], "state", ARGV[1], "next", ARGV[2], "lease", "0")
return 1
`)

// reminderTTL is how long a reminder's record is kept: longer than any action item stays open.
const reminderTTL = 3 * 365 * 24 * time.Hour

// BeginReminder claims the reminder key for one delivery attempt, held until now+lease. It returns
// the attempt's number (1 for the first), or 0 when there is nothing to do: the reminder was sent,
// given up or abandoned, another replica holds an attempt, or the next retry is not due. abandoned
// is true (with attempt 0), once, when an earlier attempt's replica died during it: that reminder is
// not attempted again, so it is never announced twice. Errors wrap timeline.ErrUnavailable.
func (s *Store) BeginReminder(ctx context.Context, key string, now time.Time, lease time.Duration) (attempt int, abandoned bool, err error) {
	n, err := beginReminderScript.Run(ctx, s.rdb, []string{s.reminderKey(key)},
		now.UnixMilli(), now.Add(lease).UnixMilli(), reminderTTL.Milliseconds()).Int()
	if err != nil {
		return 0, false, s.wrap("begin reminder", err)
	}
	if n < 0 {
		return 0, true, nil
	}
	return n, false, nil
}

// FinishReminder settles the attempt BeginReminder claimed: sent, or failed and to be tried again
// from retryAt, or (failed with a zero retryAt) given up. It does nothing when the claim was lost
// (another replica judged the attempt abandoned). Errors wrap timeline.ErrUnavailable.
func (s *Store) FinishReminder(ctx context.Context, key string, sent bool, retryAt time.Time) error {
	state, next := "sent", int64(0)
	switch {
	case !sent && retryAt.IsZero():
		state = "failed"
	case !sent:
		state, next = "retry", retryAt.UnixMilli()
	}
	if err := finishReminderScript.Run(ctx, s.rdb, []string{s.reminderKey(key)}, state, next).Err(); err != nil {
		return s.wrap("finish reminder", err)
	}
	return nil
}
