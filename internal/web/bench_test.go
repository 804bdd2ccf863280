package web_test

// Benchmarks of the read API against a fresh redis-server (internal/testenv; they skip when
// redis-server is missing). Nothing here runs without -bench.
//
//	go test -run '^$' -bench . -benchmem ./internal/web
//
// Custom metrics: p50-ms/p99-ms per request; cpu-ms/op is this process's CPU time per request
// (getrusage: the handler, Redis client and, over loopback, the client too), which other jobs on a
// shared machine disturb far less than wall-clock times.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// benchService is the whole HTTP surface on a fresh redis-server, wired as cmd/postmortemd wires it,
// with its default in-process read cache. uncached serves the same Redis with the cache off, so
// every read fetches the whole stream.
func benchService(b *testing.B) (h, uncached http.Handler) {
	b.Helper()
	srv := testenv.StartRedis(b) // skips when redis-server is missing
	if !srv.Started {
		b.Skip("benchmarks measure a fresh redis-server; unset " + testenv.RedisURLEnv)
	}
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries = 2*time.Second, 3*time.Second, 3*time.Second, 1
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { rdb.Close() })
	build := func(o redisstore.Options) http.Handler {
		store := redisstore.New(rdb, o)
		reg := prometheus.NewRegistry()
		rcv := receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)})
		return web.New(web.Options{Store: store, Ready: store, Webhooks: rcv, Registry: reg})
	}
	return build(redisstore.Options{}), build(redisstore.Options{ReadCacheBytes: -1})
}

var reStartsAt = regexp.MustCompile(`"startsAt":"[^"]*"`)

// stormPoster posts the captured 200-alert storm, each call with a new startsAt for every alert, so
// each call appends 200 events to the group's one incident, whose id it returns.
func stormPoster(b *testing.B, h http.Handler) func() string {
	b.Helper()
	storm, err := os.ReadFile(fixtures + "10-storm-200-firing.json")
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 11, 23, 13, 19, 24, 307404778, time.UTC)
	n := 0
	return func() string {
		at := fmt.Appendf(nil, `"startsAt":"%s"`, base.Add(time.Duration(n)*time.Second).Format(time.RFC3339Nano))
		n++
		body := reStartsAt.ReplaceAll(storm, at)
		req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var resp struct {
			IncidentID string `json:"incident_id"`
			Appended   int    `json:"appended"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || resp.Appended != 200 {
			b.Fatalf("posting a storm: status %d: %s", rec.Code, rec.Body.String())
		}
		return resp.IncidentID
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func percentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkTimelineRead10k reads GET /api/v1/incidents/{id}/timeline of a 10,000-event incident
// (50 storms of 200 alerts). Target (c): median <= 50 ms.
//
//	cached     through the handler (no socket), the store's read cache warm: Redis sends nothing new
//	loopback   the same over a loopback HTTP connection, the body read to the end
//	uncached   the store's read cache off: every read is XRANGE of all 10,000 entries
//	growing    a live incident: 200 new events are appended (untimed) before each read, which then
//	           fetches those only
//	limit100   ?limit=100, cache warm
func BenchmarkTimelineRead10k(b *testing.B) {
	h, uncached := benchService(b)
	post := stormPoster(b, h)
	var id string
	for range 50 {
		id = post()
	}
	path := "/api/v1/incidents/" + id + "/timeline"
	// get serves path into a recorder whose body has room for room bytes (the size of the previous
	// response), so that what is measured is the handler, not the recorder growing its buffer.
	get := func(b *testing.B, h http.Handler, path string, room int) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		rec.Body.Grow(room)
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %.200s", rec.Code, rec.Body.Bytes())
		}
		return rec
	}
	var tl struct{ Events []json.RawMessage }
	if err := json.Unmarshal(get(b, h, path, 0).Body.Bytes(), &tl); err != nil || len(tl.Events) != 10000 {
		b.Fatalf("timeline has %d events (%v), want 10000", len(tl.Events), err)
	}
	viaHandler := func(h http.Handler, path string, before func()) func(b *testing.B) {
		return func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			var size int
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if before != nil {
					b.StopTimer()
					before()
					b.StartTimer()
				}
				start := time.Now()
				rec := get(b, h, path, size)
				lat = append(lat, time.Since(start))
				size = rec.Body.Len()
			}
			b.StopTimer()
			reportCPU(b, cpu0)
			b.SetBytes(int64(size))
			percentiles(b, lat)
		}
	}
	b.Run("cached", viaHandler(h, path, nil))
	b.Run("loopback", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer client.CloseIdleConnections()
		buf := make([]byte, 32<<10)
		lat := make([]time.Duration, 0, b.N)
		var size int64
		b.ReportAllocs()
		cpu0 := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			size, err = io.CopyBuffer(io.Discard, resp.Body, buf)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d, %v", resp.StatusCode, err)
			}
		}
		b.StopTimer()
		reportCPU(b, cpu0)
		b.SetBytes(size)
		percentiles(b, lat)
	})
	b.Run("uncached", viaHandler(uncached, path, nil))
	b.Run("limit100", viaHandler(h, path+"?limit=100", nil))
	// Last: it makes the timeline longer.
	b.Run("growing", viaHandler(h, path, func() { post() }))
}
