package drafts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// storeImpl is one implementation of drafts.Postmortems under test. replica returns another
// store over the same data, as a second replica would have.
type storeImpl struct {
	name string
	new  func(t *testing.T, now func() time.Time) (store, replica drafts.Postmortems)
}

// implementations are the postmortem stores whose shared behaviour the table-driven tests check:
// the files store, and the shared store on the embedded Redis (miniredis) and on a real
// redis-server, so the Lua scripts are checked against both.
func implementations() []storeImpl {
	shared := func(rdb redis.UniversalClient, now func() time.Time) drafts.Postmortems {
		return &drafts.SharedStore{Records: redisstore.New(rdb, redisstore.Options{Prefix: "{pmdocs}"}), Now: now}
	}
	return []storeImpl{
		{"files", func(t *testing.T, now func() time.Time) (drafts.Postmortems, drafts.Postmortems) {
			dir := t.TempDir()
			return &drafts.Store{Dir: dir, Now: now}, &drafts.Store{Dir: dir, Now: now}
		}},
		{"redis/miniredis", func(t *testing.T, now func() time.Time) (drafts.Postmortems, drafts.Postmortems) {
			mr := miniredis.RunT(t)
			a := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			b := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { a.Close(); b.Close() })
			return shared(a, now), shared(b, now)
		}},
		{"redis/redis-server", func(t *testing.T, now func() time.Time) (drafts.Postmortems, drafts.Postmortems) {
			srv := testenv.StartRedisWith(t)
			a := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			b := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { a.Close(); b.Close() })
			return shared(a, now), shared(b, now)
		}},
	}
}

// eachStore runs f against every implementation.
func eachStore(t *testing.T, f func(t *testing.T, store, replica drafts.Postmortems)) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			store, replica := impl.new(t, nil)
			f(t, store, replica)
		})
	}
}

// libraryIn writes the story's first draft into store.
func libraryIn(t *testing.T, store drafts.Postmortems) (inc timeline.Incident, vs [][]byte) {
	t.Helper()
	inc, vs = versions(t)
	if res, err := store.Write(inc, vs[0]); err != nil || res.Outcome != drafts.Created {
		t.Fatalf("first write: %+v %v, want created", res, err)
	}
	return inc, vs
}

// Replicas merge the new facts of a reopened incident while a person saves an edit on another
// replica: every write is a compare-and-set, so the person either wins and the merge is redone over
// the edit, or gets a precondition failure and saves again over the merge. Either way the one
// document ends with the person's words and the new facts, and one of each.
func TestMergesAndEditsOnReplicasLoseNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, store, replica drafts.Postmortems) {
		inc, vs := libraryIn(t, store)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				on := store
				if i%2 == 1 {
					on = replica
				}
				if res, err := on.Write(inc, vs[1]); err != nil {
					errs <- err
				} else if res.Outcome != drafts.Merged && res.Outcome != drafts.Unchanged {
					errs <- fmt.Errorf("write: %+v, want merged or unchanged", res)
				}
			}()
		}
		wg.Add(1)
		precondition := 0
		go func() { // a person, retrying on 412 as the editor does: read again, reapply
			defer wg.Done()
			for {
				doc, err := replica.Get(inc.ID)
				if err != nil {
					errs <- err
					return
				}
				_, err = replica.Save(inc.ID, handEdit(t, doc.Content), doc.ETag)
				if !errors.Is(err, timeline.ErrPrecondition) {
					if err != nil {
						errs <- err
					}
					return
				}
				precondition++
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		doc, err := store.Get(inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc.Content, []byte("Reopened by the incident commander")) {
			t.Error("the new facts were lost")
		}
		if n := bytes.Count(doc.Content, []byte("A schema migration on orders-db held row locks")); n != 1 {
			t.Errorf("the person's words appear %d times, want 1", n)
		}
		if list, err := replica.List(drafts.Query{}); err != nil || len(list) != 1 || list[0].Status != "in-review" {
			t.Errorf("list %+v %v, want one postmortem, in review", list, err)
		}
		t.Logf("the person saved again after %d precondition failures", precondition)
	})
}

// Two workers (replicas) sweeping at once over one store make one draft.
func TestConcurrentWorkersMakeOneDocument(t *testing.T) {
	eachStore(t, func(t *testing.T, store, replica drafts.Postmortems) {
		s := newStory(t)
		s.deliverPD(14)
		inc := s.theIncident()
		now := *inc.SettlesAt
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, files := range []drafts.Postmortems{store, replica} {
			w := drafts.NewWorker(drafts.WorkerOptions{Store: s.store, Renderer: mustRenderer(t, "en"),
				Files: files, Now: func() time.Time { return now }})
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = w.Sweep(context.Background()) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		list, err := replica.List(drafts.Query{})
		if err != nil || len(list) != 1 || list[0].ID != inc.ID || list[0].File != drafts.FileName(inc) || len(list[0].PendingVersions) != 0 {
			t.Fatalf("postmortems %+v %v, want one for %s", list, err, inc.ID)
		}
	})
}
