package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

func TestReviewRecords(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		if _, err := s.Review(ctx, "inc-1"); !errors.Is(err, timeline.ErrNotFound) {
			t.Fatalf("Review of a missing record: err = %v, want ErrNotFound", err)
		}
		if rs, err := s.Reviews(ctx); err != nil || len(rs) != 0 {
			t.Fatalf("Reviews with none stored = %q, %v; want none", rs, err)
		}
		t.Run("first write sees nil", func(t *testing.T) {
			err := s.UpdateReview(ctx, "inc-1", func(cur []byte) ([]byte, error) {
				if cur != nil {
					t.Errorf("cur = %q, want nil for a new record", cur)
				}
				return []byte(`{"v":1}`), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if b, err := s.Review(ctx, "inc-1"); err != nil || string(b) != `{"v":1}` {
				t.Fatalf("Review = %q, %v", b, err)
			}
		})
		t.Run("nil result keeps the record", func(t *testing.T) {
			if err := s.UpdateReview(ctx, "inc-1", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
				t.Fatal(err)
			}
			if b, _ := s.Review(ctx, "inc-1"); string(b) != `{"v":1}` {
				t.Fatalf("record = %q after a no-op update", b)
			}
			if err := s.UpdateReview(ctx, "inc-new", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
				t.Fatal(err)
			}
			if rs, _ := s.Reviews(ctx); len(rs) != 1 {
				t.Fatalf("a no-op update of a missing record created one: %q", rs)
			}
		})
		t.Run("fn error comes back as it is", func(t *testing.T) {
			boom := errors.New("boom")
			if err := s.UpdateReview(ctx, "inc-1", func([]byte) ([]byte, error) { return nil, boom }); err != boom {
				t.Fatalf("err = %v, want fn's error unwrapped", err)
			}
		})
		t.Run("concurrent writers never lose an update", func(t *testing.T) {
			const writers = 25
			var wg sync.WaitGroup
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.UpdateReview(ctx, "inc-2", func(cur []byte) ([]byte, error) {
						n, _ := strconv.Atoi(string(cur))
						return []byte(strconv.Itoa(n + 1)), nil
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if b, _ := s.Review(ctx, "inc-2"); string(b) != strconv.Itoa(writers) {
				t.Fatalf("counter = %q after %d concurrent increments", b, writers)
			}
		})
		rs, err := s.Reviews(ctx)
		if err != nil || len(rs) != 2 {
			t.Fatalf("Reviews = %q, %v; want the two records", rs, err)
		}
		t.Run("records expire like participants", func(t *testing.T) {
			keys, err := rdb.Keys(ctx, "*:rv:inc-1").Result()
			if err != nil || len(keys) != 1 {
				t.Fatalf("keys %v, %v", keys, err)
			}
			if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl <= 29*24*time.Hour || ttl > 30*24*time.Hour {
				t.Errorf("review record TTL = %s, want the participants' 30 days", ttl)
			}
			rdb.Del(ctx, keys[0]) // as if it expired
			rs, err := s.Reviews(ctx)
			if err != nil || len(rs) != 1 {
				t.Fatalf("Reviews after one expired = %q, %v", rs, err)
			}
		})
	})
}
