package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// Concurrent deliveries are sent to Redis together; each must still get its own answer, and a Redis
// that lost its scripts (restart, SCRIPT FLUSH) must not fail a delivery.
func TestConcurrentRecordsGetTheirOwnAnswers(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		const groups, perGroup = 8, 12
		type answer struct {
			group    int
			id       string
			appended int
		}
		answers := make(chan answer, groups*perGroup*2)
		var wg sync.WaitGroup
		for g := range groups {
			for i := range perGroup {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := batch(fmt.Sprintf("concurrent-%d", g), firing(fmt.Sprintf("fp-%d-%d", g, i), t0.Add(time.Duration(i)*time.Second)))
					res, err := s.Record(ctx, b)
					if err != nil {
						t.Errorf("Record: %v", err)
						return
					}
					answers <- answer{g, res.IncidentID, res.Appended}
				}()
			}
		}
		wg.Wait()
		close(answers)
		ids := map[int]string{}
		for a := range answers {
			if a.appended != 1 {
				t.Errorf("group %d: appended %d", a.group, a.appended)
			}
			if ids[a.group] == "" {
				ids[a.group] = a.id
			} else if ids[a.group] != a.id {
				t.Errorf("group %d answered with incidents %s and %s", a.group, ids[a.group], a.id)
			}
		}
		seen := map[string]bool{}
		for g, id := range ids {
			if seen[id] {
				t.Errorf("group %d shares incident %s with another group", g, id)
			}
			seen[id] = true
			if n := len(facts(t, s, id)); n != perGroup {
				t.Errorf("group %d: %d events, want %d", g, n, perGroup)
			}
		}

		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Record(ctx, batch("concurrent-0", firing("after-flush", t0)))
		if err != nil || res.Appended != 1 || res.IncidentID != ids[0] {
			t.Fatalf("after SCRIPT FLUSH: %+v, %v", res, err)
		}
	})
}
