package redisstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

func TestReadingSessionRecordedOnce(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		// Two replicas race to record the same session with different views of the library: both
		// get the first one's record back.
		other := s
		var wg sync.WaitGroup
		got := make([]string, 2)
		for i, st := range []*redisstore.Store{s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := st.RecordReadingSession(ctx, "s1", []byte{'a' + byte(i)})
				if err != nil {
					t.Error(err)
				}
				got[i] = string(b)
			}()
		}
		wg.Wait()
		if got[0] != got[1] || (got[0] != "a" && got[0] != "b") {
			t.Fatalf("replicas saw %q and %q, want one record", got[0], got[1])
		}
		if b, err := s.RecordReadingSession(ctx, "s1", []byte("later")); err != nil || string(b) != got[0] {
			t.Fatalf("a later record replaced the first: %q, %v", b, err)
		}
		if _, err := s.RecordReadingSession(ctx, "s2", []byte("x")); err != nil {
			t.Fatal(err)
		}
		all, err := other.ReadingSessions(ctx)
		if err != nil || len(all) != 2 || string(all["s1"]) != got[0] || string(all["s2"]) != "x" {
			t.Fatalf("ReadingSessions = %q, %v", all, err)
		}
	})
}
