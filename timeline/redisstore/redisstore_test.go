package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// backends runs f against the embedded Redis (miniredis) and a real redis-server, each with a key
// prefix of its own, so the two implementations of the Lua script cannot drift apart unnoticed.
func backends(t *testing.T, f func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient)) {
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		f(t, redisstore.New(rdb, redisstore.Options{Prefix: testPrefix(), ResolveGrace: time.Minute}), rdb)
	})
	t.Run("redis-server", func(t *testing.T) {
		srv := testenv.StartRedis(t)
		opt, err := redis.ParseURL(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		f(t, redisstore.New(rdb, redisstore.Options{Prefix: testPrefix(), ResolveGrace: time.Minute}), rdb)
	})
}

func testPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "{pmtest-" + hex.EncodeToString(b[:]) + "}"
}

var t0 = time.Date(2026, 11, 22, 10, 5, 1, 700637419, time.UTC)

// firing and resolved build the occurrences a delivery reports.
func firing(fp string, starts time.Time) timeline.Occurrence {
	key := fmt.Sprintf("%s:%d", fp, starts.UnixNano())
	return timeline.Occurrence{Key: key, Alias: fp, State: timeline.OccurrenceFiring,
		Event: event(timeline.TypeAlertFiring, starts, "alert "+fp+" firing")}
}

func resolved(fp string, starts, ends time.Time) timeline.Occurrence {
	key := fmt.Sprintf("%s:%d", fp, starts.UnixNano())
	return timeline.Occurrence{Key: key, Alias: fp, State: timeline.OccurrenceResolved,
		Event: event(timeline.TypeAlertResolved, ends, "alert "+fp+" resolved")}
}

func event(typ timeline.Type, at time.Time, fact string) timeline.Event {
	return timeline.Event{ID: timeline.EventID(timeline.SourceAlertmanager, fact+at.String()), At: at,
		RecordedAt: at.Add(time.Second), Source: timeline.SourceAlertmanager, Type: typ,
		Kind: timeline.KindFact, Role: "Alertmanager (receiver test)", Fact: fact}
}

var idSeq atomic.Int64

func batch(group string, occ ...timeline.Occurrence) timeline.Batch {
	seq := idSeq.Add(1)
	started := time.Time{}
	for _, o := range occ {
		if started.IsZero() || o.Event.At.Before(started) {
			started = o.Event.At
		}
	}
	return timeline.Batch{Source: timeline.SourceAlertmanager, Group: group, Occurrences: occ,
		Open: timeline.Incident{ID: fmt.Sprintf("inc-%d", seq), Title: "HighLatency", Severity: "warning",
			StartedAt: started, Services: []string{"checkout"},
			Labels:  map[string]string{"alertname": "HighLatency"},
			Sources: map[string]string{timeline.SourceKeyAlertmanagerGroupKey: group}},
		SeverityRank: 3}
}

func withResolve(b timeline.Batch, at time.Time) timeline.Batch {
	b.Resolve, b.ResolvedAt = true, at
	b.Resolution = event(timeline.TypeIncidentResolved, at, "group resolved")
	return b
}

func mustRecord(t *testing.T, s *redisstore.Store, b timeline.Batch) timeline.Result {
	t.Helper()
	res, err := s.Record(context.Background(), b)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	return res
}

func mustIncidents(t *testing.T, s *redisstore.Store, status timeline.Status) []timeline.Incident {
	t.Helper()
	incs, err := s.Incidents(context.Background(), timeline.ListOptions{Status: status})
	if err != nil {
		t.Fatalf("Incidents: %v", err)
	}
	return incs
}

func facts(t *testing.T, s *redisstore.Store, id string) []string {
	t.Helper()
	es, err := s.Entries(context.Background(), id)
	if err != nil {
		t.Fatalf("Entries(%s): %v", id, err)
	}
	timeline.SortEntries(es)
	out := make([]string, len(es))
	for i, e := range es {
		var ev timeline.Event
		if err := json.Unmarshal(e.JSON, &ev); err != nil {
			t.Fatal(err)
		}
		out[i] = ev.Fact
	}
	return out
}

func TestLifecycle(t *testing.T) {
	const g = `{}:{alertname="HighLatency"}`
	t1, t2, t3 := t0.Add(time.Minute), t0.Add(10*time.Minute), t0.Add(time.Hour)

	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		t.Run("first firing opens one incident and a repeat changes nothing", func(t *testing.T) {
			b := batch(g+"a", firing("aa", t0))
			r1 := mustRecord(t, s, b)
			r2 := mustRecord(t, s, batch(g+"a", firing("aa", t0))) // another replica's candidate id
			if !r1.Opened || r1.Appended != 1 || r2.Opened || r2.Appended != 0 || r2.Duplicates != 1 {
				t.Fatalf("first %+v, repeat %+v", r1, r2)
			}
			if r2.IncidentID != r1.IncidentID {
				t.Fatalf("repeat went to %q, want %q", r2.IncidentID, r1.IncidentID)
			}
			inc, err := s.Incident(context.Background(), r1.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			if inc.Status != timeline.StatusOpen || inc.ResolvedAt != nil || inc.EventCount != 1 ||
				!inc.StartedAt.Equal(t0) || inc.Services[0] != "checkout" {
				t.Fatalf("incident %+v", inc)
			}
		})

		t.Run("alerts joining and leaving a live group are facts on the same incident", func(t *testing.T) {
			r1 := mustRecord(t, s, batch(g+"b", firing("b1", t0)))
			r2 := mustRecord(t, s, batch(g+"b", firing("b1", t0), firing("b2", t1)))
			r3 := mustRecord(t, s, batch(g+"b", resolved("b1", t0, t2), firing("b2", t1)))
			if r2.IncidentID != r1.IncidentID || r3.IncidentID != r1.IncidentID || r2.Appended != 1 || r3.Appended != 1 {
				t.Fatalf("%+v %+v %+v", r1, r2, r3)
			}
			want := []string{"alert b1 firing", "alert b2 firing", "alert b1 resolved"}
			if got := facts(t, s, r1.IncidentID); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("facts %q, want %q", got, want)
			}
		})

		t.Run("group resolving resolves; late duplicates change nothing; refiring opens a new incident", func(t *testing.T) {
			open := mustRecord(t, s, batch(g+"c", firing("c1", t0)))
			res := mustRecord(t, s, withResolve(batch(g+"c", resolved("c1", t0, t2)), t2))
			if !res.Resolved || res.IncidentID != open.IncidentID || res.Appended != 2 {
				t.Fatalf("resolve %+v", res)
			}
			// An HA peer's late copies of the firing and the resolved notification.
			lateFiring := mustRecord(t, s, batch(g+"c", firing("c1", t0)))
			lateResolved := mustRecord(t, s, withResolve(batch(g+"c", resolved("c1", t0, t2)), t2))
			if lateFiring.Opened || lateFiring.IncidentID != "" || lateResolved.Resolved || lateResolved.Appended != 0 {
				t.Fatalf("late firing %+v, late resolved %+v", lateFiring, lateResolved)
			}
			inc, err := s.Incident(context.Background(), open.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			if inc.Status != timeline.StatusResolved || inc.ResolvedAt == nil || !inc.ResolvedAt.Equal(t2) || inc.EventCount != 3 {
				t.Fatalf("resolved incident %+v", inc)
			}
			again := mustRecord(t, s, batch(g+"c", firing("c1", t3)))
			if !again.Opened || again.IncidentID == open.IncidentID {
				t.Fatalf("refire %+v, first incident %s", again, open.IncidentID)
			}
		})

		t.Run("a resolution re-posted without its start resolves the firing occurrence once", func(t *testing.T) {
			open := mustRecord(t, s, batch(g+"d", firing("d1", t0), firing("d2", t0)))
			// The sender lost d1's startsAt: Alertmanager reports startsAt == endsAt.
			r := mustRecord(t, s, batch(g+"d", resolved("d1", t2, t2), firing("d2", t0)))
			dup := mustRecord(t, s, batch(g+"d", resolved("d1", t2, t2), firing("d2", t0)))
			if r.Appended != 1 || dup.Appended != 0 {
				t.Fatalf("resolve %+v, duplicate %+v", r, dup)
			}
			end := mustRecord(t, s, withResolve(batch(g+"d", resolved("d1", t0, t2), resolved("d2", t0, t3)), t3))
			if !end.Resolved || end.Appended != 2 {
				t.Fatalf("end %+v", end)
			}
			if n := len(facts(t, s, open.IncidentID)); n != 5 {
				t.Fatalf("%d facts, want 5 (2 firing, 2 resolved, group resolved)", n)
			}
		})

		t.Run("resolutions of alerts a truncated notification left out join the resolved incident", func(t *testing.T) {
			open := mustRecord(t, s, batch(g+"t", firing("t1", t0), firing("t2", t0)))
			mustRecord(t, s, withResolve(batch(g+"t", resolved("t1", t0, t1), resolved("t2", t0, t1)), t1))
			late := mustRecord(t, s, withResolve(batch(g+"t", resolved("t3", t0, t2), resolved("t4", t0, t2)), t2))
			if late.Opened || late.Resolved || late.IncidentID != open.IncidentID || late.Appended != 2 {
				t.Fatalf("late resolutions %+v, want 2 appended to %s", late, open.IncidentID)
			}
			inc, _ := s.Incident(context.Background(), open.IncidentID)
			if inc.Status != timeline.StatusResolved || !inc.ResolvedAt.Equal(t2) || inc.EventCount != 7 {
				t.Fatalf("incident %+v, want resolved at %v with 7 events", inc, t2)
			}
			if n := len(mustIncidentsOfGroup(t, s, g+"t")); n != 1 {
				t.Fatalf("%d incidents for the group, want 1", n)
			}
		})

		t.Run("keyed events are kept once and only on an incident", func(t *testing.T) {
			b := batch(g+"e", firing("e1", t0))
			b.Events = []timeline.KeyedEvent{{DedupeKey: "truncated:2", Event: event(timeline.TypeAlertsTruncated, t1, "2 left out")}}
			r1 := mustRecord(t, s, b)
			r2 := mustRecord(t, s, b)
			if r1.Appended != 2 || r2.Appended != 0 || r2.Duplicates != 2 {
				t.Fatalf("%+v %+v", r1, r2)
			}
			orphan := batch(g + "e-none")
			orphan.Events = b.Events
			if r := mustRecord(t, s, orphan); r.IncidentID != "" || r.Appended != 0 {
				t.Fatalf("keyed event without incident: %+v", r)
			}
		})

		t.Run("severity shows the worst seen", func(t *testing.T) {
			b := batch(g+"f", firing("f1", t0))
			r := mustRecord(t, s, b)
			b2 := batch(g+"f", firing("f2", t1))
			b2.Open.Severity, b2.SeverityRank = "critical", 5
			mustRecord(t, s, b2)
			b3 := batch(g+"f", firing("f3", t2))
			b3.Open.Severity, b3.SeverityRank = "info", 2
			mustRecord(t, s, b3)
			inc, _ := s.Incident(context.Background(), r.IncidentID)
			if inc.Severity != "critical" {
				t.Fatalf("severity %q, want critical", inc.Severity)
			}
		})
	})
}

func TestListing(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		older := mustRecord(t, s, batch("g1", firing("l1", t0)))
		newer := mustRecord(t, s, batch("g2", firing("l2", t0.Add(time.Hour))))
		mustRecord(t, s, withResolve(batch("g1", resolved("l1", t0, t0.Add(time.Minute))), t0.Add(time.Minute)))

		all := mustIncidents(t, s, "")
		if len(all) != 2 || all[0].ID != newer.IncidentID || all[1].ID != older.IncidentID {
			t.Fatalf("all: %v", ids(all))
		}
		if open := mustIncidents(t, s, timeline.StatusOpen); len(open) != 1 || open[0].ID != newer.IncidentID {
			t.Fatalf("open: %v", ids(open))
		}
		if res := mustIncidents(t, s, timeline.StatusResolved); len(res) != 1 || res[0].ID != older.IncidentID {
			t.Fatalf("resolved: %v", ids(res))
		}
		if _, err := s.Incident(context.Background(), "no-such"); !errors.Is(err, timeline.ErrNotFound) {
			t.Fatalf("unknown incident: %v, want ErrNotFound", err)
		}
		if _, err := s.Entries(context.Background(), "no-such"); !errors.Is(err, timeline.ErrNotFound) {
			t.Fatalf("unknown timeline: %v, want ErrNotFound", err)
		}
	})
}

func ids(incs []timeline.Incident) []string {
	out := make([]string, len(incs))
	for i, inc := range incs {
		out[i] = inc.ID
	}
	return out
}

// Several replicas (or HA Alertmanagers) delivering the same notification at once store it once.
func TestConcurrentDeliveries(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		var wg sync.WaitGroup
		results := make([]timeline.Result, 16)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.Record(context.Background(), batch("race", firing("r1", t0), firing("r2", t0)))
				if err != nil {
					t.Error(err)
				}
				results[i] = r
			}()
		}
		wg.Wait()
		opened, appended := 0, 0
		for _, r := range results {
			if r.Opened {
				opened++
			}
			appended += r.Appended
		}
		if opened != 1 || appended != 2 {
			t.Fatalf("opened %d incidents and appended %d events, want 1 and 2", opened, appended)
		}
		if n := len(mustIncidents(t, s, "")); n != 1 {
			t.Fatalf("%d incidents listed, want 1", n)
		}
	})
}

func TestUnavailable(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	s := redisstore.New(rdb, redisstore.Options{})
	mr.Close()
	_, err := s.Record(context.Background(), batch("down", firing("x", t0)))
	if !errors.Is(err, timeline.ErrUnavailable) {
		t.Fatalf("Record with Redis down: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, timeline.ErrUnavailable) {
		t.Fatalf("Ping with Redis down: %v, want ErrUnavailable", err)
	}
}

func mustIncidentsOfGroup(t *testing.T, s *redisstore.Store, group string) []timeline.Incident {
	t.Helper()
	var out []timeline.Incident
	for _, inc := range mustIncidents(t, s, "") {
		if inc.Sources[timeline.SourceKeyAlertmanagerGroupKey] == group {
			out = append(out, inc)
		}
	}
	return out
}

// pdBatch is a PagerDuty-like batch: every event belongs to the PagerDuty incident (OpenAlways).
func pdBatch(pdID string, ev timeline.Event, key string, links ...string) timeline.Batch {
	b := batch("pd:" + pdID)
	b.Source, b.OpenAlways, b.Links = timeline.SourcePagerDuty, true, links
	b.Open.Sources = map[string]string{timeline.SourceKeyPagerDutyIncidentID: pdID}
	b.Open.StartedAt = ev.At
	b.Events = []timeline.KeyedEvent{{DedupeKey: key, Event: ev}}
	return b
}

func withStatus(b timeline.Batch, to timeline.Status, at time.Time) timeline.Batch {
	b.Status = &timeline.StatusChange{To: to, At: at}
	return b
}

func TestTwoSendersOneIncident(t *testing.T) {
	t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		t.Run("PagerDuty joins the Alertmanager incident that paged it", func(t *testing.T) {
			am := batch("amg1", firing("j1", t0))
			am.Links = []string{"am:key1"}
			a := mustRecord(t, s, am)
			p := mustRecord(t, s, pdBatch("PD1", event("incident_triggered", t1, "triggered"), "ev1", "am:key1"))
			if !p.Joined || p.Opened || p.IncidentID != a.IncidentID {
				t.Fatalf("alertmanager %+v, pagerduty %+v", a, p)
			}
			inc, _ := s.Incident(context.Background(), a.IncidentID)
			if inc.Sources[timeline.SourceKeyPagerDutyIncidentID] != "PD1" || inc.Sources[timeline.SourceKeyAlertmanagerGroupKey] != "amg1" {
				t.Fatalf("sources not merged: %v", inc.Sources)
			}
			// later PagerDuty events need no link: the PagerDuty incident is the same one
			p2 := mustRecord(t, s, pdBatch("PD1", event("incident_acknowledged", t2, "acked"), "ev2"))
			if p2.IncidentID != a.IncidentID || p2.Appended != 1 {
				t.Fatalf("second pagerduty event %+v", p2)
			}
		})
		t.Run("Alertmanager joins the incident PagerDuty opened first", func(t *testing.T) {
			p := mustRecord(t, s, pdBatch("PD2", event("incident_triggered", t1, "triggered"), "ev1", "am:key2"))
			am := batch("amg2", firing("j2", t0))
			am.Links = []string{"am:key2"}
			a := mustRecord(t, s, am)
			if !p.Opened || !a.Joined || a.IncidentID != p.IncidentID {
				t.Fatalf("pagerduty %+v, alertmanager %+v", p, a)
			}
			if n := len(mustIncidents(t, s, "")); n < 1 {
				t.Fatal("no incidents")
			}
		})
		t.Run("a link to a resolved incident opens a new one", func(t *testing.T) {
			am := batch("amg3", firing("j3", t0))
			am.Links = []string{"am:key3"}
			a := mustRecord(t, s, am)
			mustRecord(t, s, withResolve(batch("amg3", resolved("j3", t0, t1)), t1))
			p := mustRecord(t, s, pdBatch("PD3", event("incident_triggered", t2, "triggered"), "ev1", "am:key3"))
			if !p.Opened || p.IncidentID == a.IncidentID {
				t.Fatalf("pagerduty %+v joined resolved %s", p, a.IncidentID)
			}
			_ = t3
		})
	})
}

func TestStatusChangesFollowTheSourcesClock(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		rec := func(key string, to timeline.Status, m int) timeline.Result {
			return mustRecord(t, s, withStatus(pdBatch("PDS", event("status", at(m), key), key), to, at(m)))
		}
		open := rec("trig", timeline.StatusOpen, 0)
		rec("ack", timeline.StatusAcknowledged, 2)
		// an unacknowledge that happened before the acknowledge arrives late: ignored
		rec("unack-old", timeline.StatusOpen, 1)
		status := func() timeline.Incident {
			inc, err := s.Incident(context.Background(), open.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			return inc
		}
		if st := status().Status; st != timeline.StatusAcknowledged {
			t.Fatalf("status %s after a late older unacknowledge, want acknowledged", st)
		}
		if r := rec("resolve", timeline.StatusResolved, 5); !r.Resolved {
			t.Fatalf("resolve %+v", r)
		}
		if inc := status(); inc.Status != timeline.StatusResolved || !inc.ResolvedAt.Equal(at(5)) {
			t.Fatalf("after resolve %+v", inc)
		}
		// Resolved at once, but counted as resolved for the postmortem only after the grace window.
		inc := status()
		if inc.SettlesAt == nil || inc.Settled(time.Now()) || !inc.Settled(time.Now().Add(61*time.Second)) {
			t.Fatalf("settles_at %v: want about a minute from now", inc.SettlesAt)
		}
		if l := mustIncidents(t, s, timeline.StatusResolved); len(l) != 1 {
			t.Fatalf("resolved list %v", ids(l))
		}
		if r := rec("reopen", timeline.StatusOpen, 6); !r.Reopened {
			t.Fatalf("reopen %+v", r)
		}
		if inc := status(); inc.Status != timeline.StatusOpen || inc.ResolvedAt != nil || inc.SettlesAt != nil {
			t.Fatalf("after reopen %+v", inc)
		}
		if l := mustIncidents(t, s, timeline.StatusOpen); len(l) != 1 {
			t.Fatalf("open list %v", ids(l))
		}
		rec("resolve-again", timeline.StatusResolved, 9)
		if n := len(facts(t, s, open.IncidentID)); n != 6 {
			t.Fatalf("%d events, want 6: nothing recorded is undone by a reopen", n)
		}
	})
}

func TestDeliveryKeysAndSnapshots(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		prio := func(key, val string, m int) timeline.Result {
			e := event("priority_updated", t0.Add(time.Duration(m)*time.Minute), "Priority changed"+timeline.FromPlaceholder("priority")+" to "+val)
			b := pdBatch("PDP", e, key)
			b.DeliveryKey = "wh-" + key
			b.Snapshot = []timeline.SnapshotField{{Name: "priority", Value: val, At: e.At}}
			return mustRecord(t, s, b)
		}
		r := prio("p1", "P3", 0)
		prio("p2", "P2", 2)
		prio("p3-old", "P4", 1) // older than P2: no "from", and P2 stays the latest
		prio("p4", "P1", 3)
		if again := prio("p4", "P1", 3); again.Appended != 0 || again.Duplicates == 0 {
			t.Fatalf("repeated delivery %+v", again)
		}
		want := "[Priority changed to P3 Priority changed to P4 Priority changed from P3 to P2 Priority changed from P2 to P1]"
		if got := fmt.Sprint(facts(t, s, r.IncidentID)); got != want {
			t.Fatalf("facts %s\nwant %s", got, want)
		}
	})
}

func TestRefinementsAndAlternateKeys(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		e := event("incident_acknowledged", t0, "Acknowledged by the on-call responder")
		b := pdBatch("PDR", e, "pd:ev1")
		b.Events[0].AltKeys = []string{"pdlog:acknowledge:" + t0.Format(time.RFC3339)}
		r := mustRecord(t, s, b)
		// the same fact found again by a log-entry backfill under its other name
		b2 := pdBatch("PDR", event("incident_acknowledged", t0, "Acknowledged (from the log)"), "pdlog:acknowledge:"+t0.Format(time.RFC3339))
		if r2 := mustRecord(t, s, b2); r2.Appended != 0 {
			t.Fatalf("alternate key not deduplicated: %+v", r2)
		}
		// Another event of the same type in the same second (a second note, say) shares the
		// alternative name but is another fact: it is kept.
		b3 := pdBatch("PDR", event("incident_acknowledged", t0.Add(300*time.Millisecond), "Acknowledged again"), "pd:ev2")
		b3.Events[0].AltKeys = []string{"pdlog:acknowledge:" + t0.Format(time.RFC3339)}
		if r3 := mustRecord(t, s, b3); r3.Appended != 1 {
			t.Fatalf("an event sharing only an alternate key was dropped: %+v", r3)
		}
		if r4 := mustRecord(t, s, b2); r4.Appended != 0 {
			t.Fatalf("alternate key not deduplicated after a second event: %+v", r4)
		}
		if r5 := mustRecord(t, s, b3); r5.Appended != 0 {
			t.Fatalf("a retried delivery was stored twice: %+v", r5)
		}
		ref := timeline.Refinement{IncidentID: r.IncidentID, EventID: e.ID, Role: "primary on-call (level 1)",
			Fact: "Acknowledged by the primary on-call (level 1)"}
		for i := 0; i < 2; i++ {
			if err := s.Refine(context.Background(), ref); err != nil {
				t.Fatal(err)
			}
		}
		es, _ := s.Entries(context.Background(), r.IncidentID)
		var ev timeline.Event
		_ = json.Unmarshal(es[0].JSON, &ev)
		if len(es) != 2 || ev.Role != ref.Role || ev.Fact != ref.Fact || ev.ID != e.ID {
			t.Fatalf("refined event %+v", ev)
		}
		if err := s.Refine(context.Background(), timeline.Refinement{IncidentID: "nope", EventID: "x", Role: "r"}); !errors.Is(err, timeline.ErrNotFound) {
			t.Fatalf("refining an unknown incident: %v", err)
		}
	})
}

// Reads are served from a bounded in-process cache that fetches only what was appended since;
// appends, merges and a stream changed under the cache all show up on the next read.
func TestReadCacheSeesEveryChange(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		r := mustRecord(t, s, batch("cache", firing("c1", t0)))
		if n := len(facts(t, s, r.IncidentID)); n != 1 {
			t.Fatalf("%d facts", n)
		}
		mustRecord(t, s, batch("cache", firing("c1", t0), firing("c2", t0.Add(time.Minute))))
		mustRecord(t, s, batch("cache", firing("c1", t0), firing("c2", t0.Add(time.Minute)), firing("c3", t0.Add(2*time.Minute))))
		if got := facts(t, s, r.IncidentID); len(got) != 3 || got[2] != "alert c3 firing" {
			t.Fatalf("after appends: %v", got)
		}
		// Someone deletes and rewrites the stream (e.g. it expired and the incident was recreated).
		keys, _ := rdb.Keys(context.Background(), "*:i:"+r.IncidentID+":e").Result()
		if len(keys) != 1 {
			t.Fatalf("stream keys %v", keys)
		}
		rdb.Del(context.Background(), keys[0])
		e := event(timeline.TypeAlertFiring, t0, "rewritten")
		raw, _ := json.Marshal(e)
		rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: keys[0], Values: []any{"t", t0.UnixNano(), "e", raw}})
		if got := facts(t, s, r.IncidentID); len(got) != 1 || got[0] != "rewritten" {
			t.Fatalf("after the stream changed: %v", got)
		}
	})
}
