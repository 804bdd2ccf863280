package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// timelineFixture is a real redis-server holding two incidents: storm, 2,400 alert events from twelve
// storms (some of them earlier than storms posted before) with notes among them, and merged, the
// Alertmanager notification and the whole PagerDuty story folded into one incident; both with
// refined events.
type timelineFixture struct {
	rdb    *redis.Client
	prefix string
	storm  string
	merged string
}

func newTimelineFixture(t *testing.T) *timelineFixture {
	t.Helper()
	srv := testenv.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	f := &timelineFixture{rdb: redis.NewClient(opt), prefix: fmt.Sprintf("{pmtl-%d}", time.Now().UnixNano())}
	t.Cleanup(func() { f.rdb.Close() })
	store := redisstore.New(f.rdb, redisstore.Options{Prefix: f.prefix})
	h := f.handler(store)
	post := func(path string, body []byte) map[string]any {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body.String())
		}
		return out
	}
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	storm := read(fixtures + "10-storm-200-firing.json")
	base := time.Date(2026, 11, 23, 13, 19, 24, 307404778, time.UTC)
	for n := range 12 {
		at := base.Add(time.Duration(n) * time.Minute)
		if n%4 == 3 {
			at = base.Add(-time.Duration(n) * time.Minute) // a late delivery of something earlier
		}
		body := reStartsAt.ReplaceAll(storm, fmt.Appendf(nil, `"startsAt":"%s"`, at.Format(time.RFC3339Nano)))
		f.storm = post("/webhook/alertmanager", body)["incident_id"].(string)
	}
	post("/webhook/alertmanager", read(fixtures+"01-first-firing.json"))
	files, _ := filepath.Glob("../../receiver/testdata/pagerduty/story/[0-9]*.json")
	for _, name := range files {
		post("/webhook/pagerduty", read(name))
	}
	ctx := context.Background()
	incs, err := store.Incidents(ctx, timeline.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if inc.ID != f.storm {
			f.merged = inc.ID
		}
	}
	if len(incs) != 2 || f.merged == "" {
		t.Fatalf("%d incidents, want the storm's and the merged one", len(incs))
	}
	if es, err := store.Entries(ctx, f.merged); err != nil || len(es) < 15 || !bytes.Contains(es[len(es)-1].JSON, []byte(`"source":"pagerduty"`)) {
		t.Fatalf("merged incident: %d entries (%v), want the alert and the PagerDuty story", len(es), err)
	}
	// Notes among the alerts, and refinements of alert, PagerDuty and note events.
	for i := range 150 {
		at := base.Add(time.Duration(i*7-300) * time.Second)
		ev := timeline.Event{ID: timeline.EventID(timeline.SourceManual, strconv.Itoa(i)), At: at, RecordedAt: at.Add(time.Hour),
			Source: timeline.SourceManual, Type: timeline.TypeNote, Kind: timeline.KindContext,
			Role: "incident commander", Fact: fmt.Sprintf("note %d: \"restarted\" <the> replica & checked", i)}
		if _, _, err := store.AddContext(ctx, f.storm, timeline.KeyedEvent{DedupeKey: "note:" + strconv.Itoa(i), Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{f.storm, f.merged} {
		es, err := store.Entries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(es); i += max(1, len(es)/9) {
			r := timeline.Refinement{IncidentID: id, EventID: es[i].ID(), Fact: fmt.Sprintf("refined fact %d", i)}
			if i%2 == 0 {
				r.Role = "database on-call"
			}
			if err := store.Refine(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

func (f *timelineFixture) handler(store *redisstore.Store) http.Handler {
	reg := prometheus.NewRegistry()
	rcv := receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg),
		PagerDuty: receiver.PagerDutyOptions{AllowUnsigned: true}})
	return web.New(web.Options{Store: store, Ready: store, Webhooks: rcv, Registry: reg})
}

// previousTimeline is the response as the handler built it before it was written as it is read:
// Entries (arrival order, refinements applied) sorted with SortEntries, assembled in one buffer.
func previousTimeline(t *testing.T, h http.Handler, store *redisstore.Store, id, after string, limit int) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/incidents/"+id, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("incident %s: %d", id, rec.Code)
	}
	incJSON := bytes.TrimSuffix(rec.Body.Bytes(), []byte("\n"))
	entries, err := store.Entries(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	timeline.SortEntries(entries)
	if after != "" {
		i := 0
		for i < len(entries) && entries[i].ID() != after {
			i++
		}
		entries = entries[i+1:]
	}
	next := ""
	if limit > 0 && len(entries) > limit {
		entries = entries[:limit]
		next = entries[limit-1].ID()
	}
	var buf bytes.Buffer
	buf.WriteString(`{"incident":`)
	buf.Write(incJSON)
	buf.WriteString(`,"events":[`)
	for i, e := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.JSON)
	}
	buf.WriteByte(']')
	if next != "" {
		buf.WriteString(`,"next_after":`)
		nb, _ := json.Marshal(next)
		buf.Write(nb)
	}
	buf.WriteString("}\n")
	return buf.Bytes()
}

// The timeline response is byte for byte what it was before it was streamed: on the first read of
// a fresh process (empty cache), warm, after the timeline grew, with the cache off, for every page.
func TestTimelineResponseUnchanged(t *testing.T) {
	f := newTimelineFixture(t)
	ref := redisstore.New(f.rdb, redisstore.Options{Prefix: f.prefix, ReadCacheBytes: -1})
	refH := f.handler(ref)
	stormEntries, err := ref.Entries(context.Background(), f.storm)
	if err != nil || len(stormEntries) != 2550 {
		t.Fatalf("storm incident: %d entries (%v), want 2,550", len(stormEntries), err)
	}
	type page struct {
		after string
		limit int
	}
	pagesOf := func(id string) []page {
		es, err := ref.Entries(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		timeline.SortEntries(es)
		mid, last := es[len(es)/2].ID(), es[len(es)-1].ID()
		return []page{{}, {limit: 100}, {limit: 5}, {after: mid}, {after: mid, limit: 1000}, {after: last}}
	}
	compare := func(t *testing.T, h http.Handler, id string, p page) {
		t.Helper()
		q := fmt.Sprintf("?after=%s&limit=%d", p.after, p.limit)
		if p.after == "" {
			q = fmt.Sprintf("?limit=%d", p.limit)
		}
		want := previousTimeline(t, refH, ref, id, p.after, p.limit)
		srv := httptest.NewServer(h) // over a real connection: the length header and the body as sent
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/api/v1/incidents/" + id + "/timeline" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s%s: %d, %v", id, q, resp.StatusCode, err)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("%s%s: %d bytes, want %d; first difference at %d:\n got %.200s\nwant %.200s", id, q,
				len(got), len(want), i, got[max(0, i-50):], want[max(0, i-50):])
		}
		if resp.ContentLength != int64(len(want)) || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s%s: Content-Length %d, Content-Type %q", id, q, resp.ContentLength, resp.Header.Get("Content-Type"))
		}
	}
	for _, id := range []string{f.storm, f.merged} {
		body := previousTimeline(t, refH, ref, id, "", 0)
		for _, want := range []string{`"fact":"refined fact `, `"role":"database on-call"`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Fatalf("%s: the timeline does not show %s: the fixture is not what the test needs", id, want)
			}
		}
		t.Run("first read of a new process, then warm: "+id, func(t *testing.T) {
			for _, p := range pagesOf(id) {
				store := redisstore.New(f.rdb, redisstore.Options{Prefix: f.prefix})
				h := f.handler(store)
				compare(t, h, id, p) // cold: written from the compressed events as they are read
				compare(t, h, id, p) // cold or warm, as the read cache's background fill goes
				waitWarm(t, store, id)
				compare(t, h, id, p) // warm: from the read cache the first read filled
			}
		})
	}
	t.Run("cache off", func(t *testing.T) {
		h := f.handler(redisstore.New(f.rdb, redisstore.Options{Prefix: f.prefix, ReadCacheBytes: -1}))
		for _, p := range pagesOf(f.storm) {
			compare(t, h, f.storm, p)
		}
	})
	t.Run("grown after the cache filled", func(t *testing.T) {
		store := redisstore.New(f.rdb, redisstore.Options{Prefix: f.prefix})
		h := f.handler(store)
		compare(t, h, f.storm, page{})
		storm, _ := os.ReadFile(fixtures + "10-storm-200-firing.json")
		early := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		for n := range 6 { // 1,200 new events, more than one chunk, earlier than most cached ones
			body := reStartsAt.ReplaceAll(storm, fmt.Appendf(nil, `"startsAt":"%s"`, early.Add(time.Duration(n)*time.Second).Format(time.RFC3339Nano)))
			req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("storm: %d %s", rec.Code, rec.Body.String())
			}
		}
		for _, p := range pagesOf(f.storm) {
			compare(t, h, f.storm, p)
		}
	})
}

// waitWarm waits until store serves id's timeline from its read cache (filled in the background
// after a cold read).
func waitWarm(t *testing.T, store *redisstore.Store, id string) {
	t.Helper()
	for range 3000 {
		ev, err := store.SortedEvents(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		_, warm := ev.(timeline.EntryEvents)
		ev.Close()
		if warm {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: the read cache was not filled after a cold read", id)
}

// Redis going away in the middle of reading a long timeline gives the client a whole error
// response (503, retry), never a 200 whose JSON stops early or looks complete without all events:
// the handler reads everything before it sends the status.
func TestTimelineOutageMidRead(t *testing.T) {
	f := newTimelineFixture(t)
	addr, cut := newCutProxy(t, f.rdb.Options().Addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	srv := httptest.NewServer(f.handler(redisstore.New(rdb, redisstore.Options{Prefix: f.prefix})))
	defer srv.Close()
	// The incident and the first chunk of 1,000 events (about 300 KB) get through; the second
	// chunk is cut off half-way, and Redis stays unreachable after.
	cut(450 << 10)
	resp, err := http.Get(srv.URL + "/api/v1/incidents/" + f.storm + "/timeline")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || bytes.Contains(body, []byte(`"events"`)) ||
		!strings.Contains(string(body), "retrying it is safe") {
		t.Fatalf("%d %.300s: want a 503 error and no events", resp.StatusCode, body)
	}
	if n := cut(0); n < 300<<10 {
		t.Fatalf("only %d bytes passed before the cut: the outage did not come after the first chunk", n)
	}
}

// newCutProxy forwards TCP connections to target. cut(n) (n > 0) lets n more bytes from the server
// through, then closes every connection and refuses new ones; cut(0) reports how many bytes passed
// since the last cut(n).
func newCutProxy(t *testing.T, target string) (string, func(n int) int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		budget = -1 // unlimited
		passed int
		down   bool
		conns  []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	// take returns how much of n bytes may pass.
	take := func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 0
		}
		if budget >= 0 && n >= budget {
			n, down = budget, true
		}
		if budget >= 0 {
			budget -= n
		}
		passed += n
		return n
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if down {
				mu.Unlock()
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				mu.Unlock()
				c.Close()
				continue
			}
			conns = append(conns, c, s)
			mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() {
				defer c.Close()
				defer s.Close()
				buf := make([]byte, 16<<10)
				for {
					n, err := s.Read(buf)
					ok := take(n)
					if ok > 0 {
						if _, werr := c.Write(buf[:ok]); werr != nil {
							return
						}
					}
					if ok < n || err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		if n > 0 {
			budget, passed = n, 0
		}
		if down {
			for _, c := range conns {
				c.Close()
			}
		}
		return passed
	}
}
