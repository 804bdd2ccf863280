package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// RecordReadingSession records value as what the reading-group session uid covered, unless a
// replica recorded it first, and returns the value that is recorded: the first writer wins, so the
// covered set is written once however many replicas see the session start. Errors wrap
// timeline.ErrUnavailable.
func (s *Store) RecordReadingSession(ctx context.Context, uid string, value []byte) ([]byte, error) {
	key := s.readingGroupKey()
	if _, err := s.rdb.HSetNX(ctx, key, uid, value).Result(); err != nil {
		return nil, s.wrap("record reading session", err)
	}
	b, err := s.rdb.HGet(ctx, key, uid).Bytes()
	if err != nil {
		return nil, s.wrap("read reading session", err)
	}
	return b, nil
}

// ReadingSessions returns every recorded reading-group session, by UID. Errors wrap
// timeline.ErrUnavailable.
func (s *Store) ReadingSessions(ctx context.Context) (map[string][]byte, error) {
	m, err := s.rdb.HGetAll(ctx, s.readingGroupKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.wrap("read reading sessions", err)
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, nil
}
