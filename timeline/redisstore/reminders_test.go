package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

func TestReminderClaims(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
		lease := time.Minute
		begin := func(key string, at time.Time) (int, bool) {
			t.Helper()
			n, abandoned, err := s.BeginReminder(ctx, key, at, lease)
			if err != nil {
				t.Fatal(err)
			}
			return n, abandoned
		}
		t.Run("one replica of many gets the attempt", func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if n, _, err := s.BeginReminder(ctx, "a", now, lease); err == nil && n == 1 {
						mu.Lock()
						won++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if won != 1 {
				t.Fatalf("%d replicas won the first attempt", won)
			}
			if err := s.FinishReminder(ctx, "a", true, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if n, ab := begin("a", now.Add(time.Hour)); n != 0 || ab {
				t.Errorf("a sent reminder was claimed again: %d %v", n, ab)
			}
		})
		t.Run("a failure is retried from its time, then given up", func(t *testing.T) {
			if n, _ := begin("b", now); n != 1 {
				t.Fatalf("attempt %d", n)
			}
			if err := s.FinishReminder(ctx, "b", false, now.Add(30*time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, _ := begin("b", now.Add(10*time.Second)); n != 0 {
				t.Errorf("retried before its time: %d", n)
			}
			if n, _ := begin("b", now.Add(30*time.Second)); n != 2 {
				t.Errorf("retry attempt %d, want 2", n)
			}
			if err := s.FinishReminder(ctx, "b", false, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if n, _ := begin("b", now.Add(time.Hour)); n != 0 {
				t.Errorf("a given-up reminder was claimed: %d", n)
			}
		})
		t.Run("an attempt whose replica died is abandoned, not repeated", func(t *testing.T) {
			if n, _ := begin("c", now); n != 1 {
				t.Fatalf("attempt %d", n)
			}
			if n, ab := begin("c", now.Add(30*time.Second)); n != 0 || ab {
				t.Errorf("claimed during another's lease: %d %v", n, ab)
			}
			if n, ab := begin("c", now.Add(2*time.Minute)); n != 0 || !ab {
				t.Errorf("after the lease: %d %v, want abandoned", n, ab)
			}
			if n, ab := begin("c", now.Add(3*time.Minute)); n != 0 || ab {
				t.Errorf("abandoned reported twice or claimed: %d %v", n, ab)
			}
			// The dead replica's late finish does not revive it.
			if err := s.FinishReminder(ctx, "c", false, now); err != nil {
				t.Fatal(err)
			}
			if n, _ := begin("c", now.Add(4*time.Minute)); n != 0 {
				t.Errorf("abandoned reminder claimed: %d", n)
			}
		})
	})
}
