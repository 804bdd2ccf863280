package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// startReplicated starts a real primary and a replica of it, and waits until the replica is in sync.
func startReplicated(t *testing.T) (primary, replica *testenv.Redis) {
	t.Helper()
	primary = testenv.StartRedisWith(t)
	primary.RequireOwn()
	host, port, _ := strings.Cut(primary.Addr(), ":")
	replica = testenv.StartRedisWith(t, "--replicaof", host, port)
	waitInSync(t, replica)
	return primary, replica
}

func waitInSync(t *testing.T, replica *testenv.Redis) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer rdb.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info := rdb.Info(context.Background(), "replication").Val()
		if strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not come in sync: %s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With WaitReplicas, what the store acknowledged is on the replica the moment it is acknowledged
// (what Sentinel would promote), for every kind of write: the webhook's script, single commands,
// WATCH/MULTI updates and a MULTI without WATCH. When the replica is gone, writes fail as
// unavailable (the webhook's retryable 503), are counted, and the retry once it is back stores the
// facts once.
func TestWaitReplicasAcknowledgesOnlyWhatTheReplicaHas(t *testing.T) {
	primary, replica := startReplicated(t)
	prefix := testPrefix()
	// WAIT blocks the connection for up to WaitTimeout: the read timeout must outlast it.
	rdb := redis.NewClient(&redis.Options{Addr: primary.Addr(), ReadTimeout: 10 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	var mu sync.Mutex
	var failures []string
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix, WaitReplicas: 1, WaitTimeout: 5 * time.Second, // generous: a loaded machine must not fail the writes while the replica is up
		NotReplicated: func(acked int, err error) {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, fmt.Sprintf("%d: %v", acked, err))
		}})
	// The replica is read through a store of its own (reads only): no waiting, no cache.
	rr := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { rr.Close() })
	onReplica := redisstore.New(rr, redisstore.Options{Prefix: prefix, ReadCacheBytes: -1})
	ctx := context.Background()

	for i := range 20 { // one delivery after another, and no pause before reading the replica
		res := mustRecord(t, s, batch("{}:{alertname=\"Wait\"}", firing(fmt.Sprintf("fp%d", i), t0.Add(time.Duration(i)*time.Second))))
		if got := facts(t, onReplica, res.IncidentID); len(got) != i+1 {
			t.Fatalf("after delivery %d the replica holds %d facts: %q", i, len(got), got)
		}
	}
	// Deliveries in flight together go to Redis as one pipeline; each is on the replica when answered.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Record(ctx, batch(fmt.Sprintf("{}:{alertname=\"Burst%d\"}", i), firing("b", t0)))
			if err == nil {
				if got := facts(t, onReplica, res.IncidentID); len(got) != 1 {
					err = fmt.Errorf("burst %d: the replica holds %q", i, got)
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// WATCH/MULTI: participants and reviews.
	if err := s.SaveParticipants(ctx, "inc-w", []timeline.Participant{{ID: "P1", Role: "Incident Commander"}}); err != nil {
		t.Fatal(err)
	}
	if ps, err := onReplica.Participants(ctx, "inc-w"); err != nil || ps["P1"].Role != "Incident Commander" {
		t.Fatalf("participants on the replica: %+v %v", ps, err)
	}
	if err := s.UpdateReview(ctx, "inc-w", func([]byte) ([]byte, error) { return []byte(`{"v":1}`), nil }); err != nil {
		t.Fatal(err)
	}
	if b, err := onReplica.Review(ctx, "inc-w"); err != nil || string(b) != `{"v":1}` {
		t.Fatalf("review on the replica: %q %v", b, err)
	}
	// A script (documents), then MULTI without WATCH (removing a version kept beside).
	if err := s.StoreDocument(ctx, "inc-w", "v1", "", []byte("# draft"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if added, err := s.AddBesideDocument(ctx, "inc-w", "v1", "conflict-1.md", []byte("mine")); err != nil || !added {
		t.Fatalf("AddBesideDocument: %v %v", added, err)
	}
	if err := s.RemoveBesideDocument(ctx, "inc-w", "conflict-1.md"); err != nil {
		t.Fatal(err)
	}
	if c, _, err := onReplica.LoadDocument(ctx, "inc-w"); err != nil || string(c) != "# draft" {
		t.Fatalf("document on the replica: %q %v", c, err)
	}
	if b, err := onReplica.BesideDocuments(ctx, "inc-w"); err != nil || len(b) != 0 {
		t.Fatalf("versions beside on the replica after the removal: %v %v", b, err)
	}
	mu.Lock()
	if len(failures) != 0 {
		t.Fatalf("writes reported as not replicated while the replica was up: %q", failures)
	}
	mu.Unlock()

	// The replica goes away: a delivery is not acknowledged, and says why.
	replica.Stop()
	late := batch("{}:{alertname=\"Wait\"}", firing("late", t0.Add(time.Hour)))
	_, err := s.Record(ctx, late)
	if !errors.Is(err, timeline.ErrUnavailable) || !strings.Contains(err.Error(), "0 of 1 replicas") {
		t.Fatalf("Record without its replica: %v, want unavailable, 0 of 1 replicas", err)
	}
	if err := s.SaveParticipants(ctx, "inc-w", []timeline.Participant{{ID: "P2", Role: "Scribe"}}); !errors.Is(err, timeline.ErrUnavailable) {
		t.Fatalf("SaveParticipants without its replica: %v, want unavailable", err)
	}
	mu.Lock()
	if len(failures) != 2 || !strings.HasPrefix(failures[0], "0: NOREPLICAS") {
		t.Fatalf("writes reported as not replicated: %q, want the two", failures)
	}
	mu.Unlock()

	// Back again: the sender's retry is acknowledged and the fact is stored once.
	replica.Start()
	waitInSync(t, replica)
	res, err := s.Record(ctx, late)
	if err != nil {
		t.Fatalf("the retry once the replica is back: %v", err)
	}
	got := facts(t, onReplica, res.IncidentID)
	if n := strings.Count(strings.Join(got, "\n"), "alert late firing"); n != 1 || len(got) != 21 {
		t.Fatalf("the replica after the retry holds %d facts, %d of them the late one: %q", len(got), n, got)
	}
}
