package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// expiredPage is how many index entries ExpiredTimelines reads per round trip.
const expiredPage = 500

// ExpiredTimelines returns the ids of the resolved incidents whose resolution is older than cutoff,
// oldest start first. An incident resolves after it starts, so only the incidents that started
// before cutoff are looked at. It returns an error wrapping timeline.ErrUnavailable when Redis
// cannot be reached.
func (s *Store) ExpiredTimelines(ctx context.Context, cutoff time.Time) (ids []string, err error) {
	defer s.timed("expired_timelines", &err)()
	limit := s.resolvedAtLimit(cutoff)
	maxScore := strconv.FormatInt(cutoff.UnixMilli(), 10)
	for offset := int64(0); ; offset += expiredPage {
		page, err := s.rdb.ZRangeByScore(ctx, s.indexKey(indexResolved), &redis.ZRangeBy{
			Min: "-inf", Max: maxScore, Offset: offset, Count: expiredPage}).Result()
		if err != nil {
			return nil, s.wrap("expired timelines", err)
		}
		if len(page) == 0 {
			return ids, nil
		}
		pipe := s.rdb.Pipeline()
		at := make([]*redis.SliceCmd, len(page))
		for i, id := range page {
			at[i] = pipe.HMGet(ctx, s.incidentKey(id), "status", "resolved_at")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, s.wrap("expired timelines", err)
		}
		for i, id := range page {
			v := at[i].Val()
			status, _ := v[0].(string)
			resolvedAt, _ := v[1].(string)
			if status == "resolved" && resolvedAt != "" && resolvedAt < limit {
				ids = append(ids, id)
			}
		}
		if len(page) < expiredPage {
			return ids, nil
		}
	}
}

// RemoveTimeline deletes incident id's timeline from Redis if the incident is still resolved and
// was resolved before cutoff: the incident record, its events, services, dedupe keys and
// refinements, its entries in the incident indexes, and its review record. It checks and deletes
// in one script, so an incident that reopened meanwhile is kept, and replicas sweeping at the same
// time remove it once: removed is true only for the call that deleted it. Records that expire on
// their own (a group's dedupe state, participants, links) are left to expire.
//
// It returns an error wrapping timeline.ErrUnavailable when Redis cannot be reached.
func (s *Store) RemoveTimeline(ctx context.Context, id string, cutoff time.Time) (removed bool, err error) {
	defer s.timed("remove_timeline", &err)()
	keys := []string{s.incidentKey(id), s.eventsKey(id), s.servicesKey(id), s.dedupeKey(id), s.refinedKey(id),
		s.reviewKey(id), s.indexKey(indexAll), s.indexKey(indexActive), s.indexKey(indexResolved),
		s.indexKey(indexReviews)}
	n, err := removeTimelineScript.Run(ctx, s.rdb, keys, id, s.resolvedAtLimit(cutoff)).Int()
	if err != nil {
		return false, s.wrap(fmt.Sprintf("remove timeline of incident %q", id), err)
	}
	return n == 1, nil
}

// resolvedAtLimit is cutoff as the script and the incident hash write times: fixed-width, so that
// times compare as strings.
func (s *Store) resolvedAtLimit(cutoff time.Time) string { return cutoff.UTC().Format(timeLayout) }

// removeTimelineScript deletes an incident that is resolved, and was resolved before ARGV[2].
// KEYS[1..6] the incident's hash, events, services, dedupe, refinements and review record;
// KEYS[7..9] the all/active/resolved indexes; KEYS[10] the reviews index. ARGV[1] the id.
// Returns 1 when it deleted, 0 when there was nothing to delete or the incident is to be kept.
var removeTimelineScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'resolved' then return 0 end
local at = redis.call('HGET', KEYS[1], 'resolved_at') or ''
if at == '' or at >= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
for k = 7, 9 do redis.call('ZREM', KEYS[k], ARGV[1]) end
redis.call('SREM', KEYS[10], ARGV[1])
return 1
`)
