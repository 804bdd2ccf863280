package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// UpdateReview reads the incident's review record (nil when there is none), calls fn with it and
// stores what fn returns in one WATCH/MULTI transaction; when another writer changed the record
// meanwhile, fn is called again with the new record. fn returning nil bytes leaves the record as
// it is. Errors from fn come back unwrapped; an unreachable Redis gives timeline.ErrUnavailable.
// The record's format belongs to the caller (drafts/review): this store keeps bytes.
func (s *Store) UpdateReview(ctx context.Context, incidentID string, fn func(cur []byte) ([]byte, error)) (err error) {
	defer s.timed("update_review", &err)()
	k := s.reviewKey(incidentID)
	var fnErr error
	txf := func(tx *redis.Tx) error {
		cur, err := tx.Get(ctx, k).Bytes()
		if errors.Is(err, redis.Nil) {
			cur, err = nil, nil
		}
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			fnErr = err
			return err
		}
		if next == nil {
			return nil
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			// Review records hold attendees' addresses: they are kept as long as participants are.
			pipe.Set(ctx, k, next, s.participantsTTL)
			pipe.SAdd(ctx, s.indexKey(indexReviews), incidentID)
			return nil
		})
		if err != nil {
			return err
		}
		return s.waitTx(ctx, tx)
	}
	err = watchRetry(ctx, func() error {
		fnErr = nil
		return s.rdb.Watch(ctx, txf, k)
	})
	if fnErr != nil {
		return fnErr
	}
	return s.wrap("update review", err)
}

// Review returns the incident's review record, or an error wrapping timeline.ErrNotFound.
func (s *Store) Review(ctx context.Context, incidentID string) (b []byte, err error) {
	defer s.timed("review", &err)()
	b, err = s.rdb.Get(ctx, s.reviewKey(incidentID)).Bytes()
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("review of incident %q", incidentID), err)
	}
	return b, nil
}

// Reviews returns every review record, in no particular order.
func (s *Store) Reviews(ctx context.Context) (out [][]byte, err error) {
	defer s.timed("reviews", &err)()
	ids, err := s.rdb.SMembers(ctx, s.indexKey(indexReviews)).Result()
	if err != nil {
		return nil, s.wrap("reviews", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.reviewKey(id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.wrap("reviews", err)
	}
	var expired []any
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out = append(out, []byte(str))
		} else {
			expired = append(expired, ids[i])
		}
	}
	if len(expired) > 0 {
		// Best effort: a record that expired leaves the index; a failure here is retried next time.
		_ = s.rdb.SRem(ctx, s.indexKey(indexReviews), expired...).Err()
	}
	return out, nil
}
