package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// A document is replaced only over the version the writer read; a version beside it only while
// the document is the version the writer saw.
func TestDocumentsAreCompareAndSet(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		ctx := context.Background()
		if _, _, err := s.LoadDocument(ctx, "inc-1"); !errors.Is(err, timeline.ErrNotFound) {
			t.Fatalf("load missing: %v, want ErrNotFound", err)
		}
		if err := s.StoreDocument(ctx, "inc-1", "v1", "", []byte("one"), []byte(`{"m":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.StoreDocument(ctx, "inc-1", "v1b", "", []byte("other"), nil); !errors.Is(err, timeline.ErrPrecondition) {
			t.Fatalf("second create: %v, want ErrPrecondition", err)
		}
		if err := s.StoreDocument(ctx, "inc-1", "v2", "v0", []byte("two"), nil); !errors.Is(err, timeline.ErrPrecondition) {
			t.Fatalf("stale replace: %v, want ErrPrecondition", err)
		}
		if err := s.StoreDocument(ctx, "inc-1", "v2", "v1", []byte("two"), []byte(`{"m":2}`)); err != nil {
			t.Fatal(err)
		}
		c, m, err := s.LoadDocument(ctx, "inc-1")
		if err != nil || string(c) != "two" || string(m) != `{"m":2}` {
			t.Fatalf("load: %q %q %v", c, m, err)
		}
		if idx, err := s.DocumentIndex(ctx); err != nil || len(idx) != 1 || string(idx["inc-1"]) != `{"m":2}` {
			t.Fatalf("index %q %v", idx, err)
		}
		if _, err := s.AddBesideDocument(ctx, "inc-1", "v1", "a.regenerated-1.md", []byte("x")); !errors.Is(err, timeline.ErrPrecondition) {
			t.Fatalf("beside a stale version: %v, want ErrPrecondition", err)
		}
		for i, want := range []bool{true, false} {
			added, err := s.AddBesideDocument(ctx, "inc-1", "v2", "a.regenerated-1.md", []byte{byte('x' + i)})
			if err != nil || added != want {
				t.Fatalf("beside #%d: %v %v, want added %v", i, added, err, want)
			}
		}
		if b, err := s.BesideDocuments(ctx, "inc-1"); err != nil || string(b["a.regenerated-1.md"]) != "x" {
			t.Fatalf("beside %q %v", b, err)
		}
		if bi, err := s.BesideIndex(ctx); err != nil || len(bi["inc-1"]) != 1 {
			t.Fatalf("beside index %v %v", bi, err)
		}
		for range 2 { // a second removal is no error
			if err := s.RemoveBesideDocument(ctx, "inc-1", "a.regenerated-1.md"); err != nil {
				t.Fatal(err)
			}
		}
		b, err1 := s.BesideDocuments(ctx, "inc-1")
		bi, err2 := s.BesideIndex(ctx)
		if len(b) != 0 || len(bi) != 0 || err1 != nil || err2 != nil {
			t.Fatalf("after removal: %q %v %v %v", b, bi, err1, err2)
		}
	})
}

// One holder at a time; a holder that stops renewing loses the lease to the next.
func TestLeaseHasOneHolderAndLapses(t *testing.T) {
	const ttl = 300 * time.Millisecond
	check := func(t *testing.T, s *redisstore.Store, lapse func()) {
		ctx := context.Background()
		for _, c := range []struct {
			holder string
			want   bool
		}{{"a", true}, {"b", false}, {"a", true}} {
			if held, err := s.Lease(ctx, "mirror", c.holder, ttl); err != nil || held != c.want {
				t.Fatalf("Lease(%s) = %v %v, want %v", c.holder, held, err, c.want)
			}
		}
		lapse()
		if held, err := s.Lease(ctx, "mirror", "b", ttl); err != nil || !held {
			t.Fatalf("b after a stopped renewing: %v %v, want the lease", held, err)
		}
		if held, err := s.Lease(ctx, "mirror", "a", ttl); err != nil || held {
			t.Fatalf("a after b took over: %v %v, want no lease", held, err)
		}
		// Released by its holder (a replica shutting down), it is free at once; a release by
		// another is ignored.
		if err := s.ReleaseLease(ctx, "mirror", "a"); err != nil {
			t.Fatal(err)
		}
		if held, _ := s.Lease(ctx, "mirror", "a", ttl); held {
			t.Fatal("a release by a non-holder freed the lease")
		}
		if err := s.ReleaseLease(ctx, "mirror", "b"); err != nil {
			t.Fatal(err)
		}
		if held, err := s.Lease(ctx, "mirror", "a", ttl); err != nil || !held {
			t.Fatalf("a after b released: %v %v, want the lease", held, err)
		}
	}
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		check(t, redisstore.New(rdb, redisstore.Options{Prefix: testPrefix()}), func() { mr.FastForward(2 * ttl) })
	})
	t.Run("redis-server", func(t *testing.T) {
		srv := testenv.StartRedis(t)
		opt, _ := redis.ParseURL(srv.URL())
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		prefix := testPrefix()
		s := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
		check(t, s, func() {
			// Wait for the lease's expiry as Redis sees it, not for a wall-clock bound.
			for rdb.Exists(context.Background(), prefix+":ls:mirror").Val() == 1 {
				time.Sleep(20 * time.Millisecond)
			}
		})
	})
}
