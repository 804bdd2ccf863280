package web_test

// Benchmarks of the read API against a fresh redis-server (internal/testenv; they skip when
// redis-server is missing). Nothing here runs without -bench.
//
//	go test -run '^$' -bench . -benchmem ./internal/web
//
// Custom metrics: p50-ms/p99-ms per request; events/op is the timeline's length.

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
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// benchService is the whole HTTP surface on a fresh redis-server, wired as cmd/postmortemd wires it.
func benchService(b *testing.B) http.Handler {
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
	store := redisstore.New(rdb, redisstore.Options{})
	reg := prometheus.NewRegistry()
	rcv := receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)})
	return web.New(web.Options{Store: store, Ready: store, Webhooks: rcv, Registry: reg})
}

var reStartsAt = regexp.MustCompile(`"startsAt":"[^"]*"`)

// seedTimeline posts the captured 200-alert storm n times, each time with a new startsAt for every
// alert, so one incident gets 200*n events. It returns the incident's id.
func seedTimeline(b *testing.B, h http.Handler, n int) string {
	b.Helper()
	storm, err := os.ReadFile(fixtures + "10-storm-200-firing.json")
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 11, 23, 13, 19, 24, 307404778, time.UTC)
	var id string
	for i := range n {
		at := fmt.Appendf(nil, `"startsAt":"%s"`, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano))
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
			b.Fatalf("seeding: status %d: %s", rec.Code, rec.Body.String())
		}
		id = resp.IncidentID
	}
	return id
}

func percentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkTimelineRead10k reads GET /api/v1/incidents/{id}/timeline of a 10,000-event incident:
// through the handler (Redis round trips, sorting and the response body, no socket), and over a
// loopback HTTP connection read to the end, as a client sees it. Target (c): median <= 50 ms.
func BenchmarkTimelineRead10k(b *testing.B) {
	h := benchService(b)
	id := seedTimeline(b, h, 50)
	path := "/api/v1/incidents/" + id + "/timeline"

	check := func(b *testing.B, code int, body []byte) {
		if code != http.StatusOK {
			b.Fatalf("status %d: %.200s", code, body)
		}
	}
	b.Run("handler", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		var size int
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			lat = append(lat, time.Since(start))
			check(b, rec.Code, rec.Body.Bytes())
			size = rec.Body.Len()
		}
		b.StopTimer()
		b.SetBytes(int64(size))
		percentiles(b, lat)
		var tl struct{ Events []json.RawMessage }
		if err := json.Unmarshal(must(httptest.NewRecorder(), h, path), &tl); err != nil || len(tl.Events) != 10000 {
			b.Fatalf("timeline has %d events (%v), want 10000", len(tl.Events), err)
		}
	})
	b.Run("loopback", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer client.CloseIdleConnections()
		buf := make([]byte, 32<<10)
		lat := make([]time.Duration, 0, b.N)
		var size int64
		b.ReportAllocs()
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
		b.SetBytes(size)
		percentiles(b, lat)
	})
	// A page of 100 (?limit=100) still reads and sorts the whole stream.
	b.Run("limit100", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?limit=100", nil))
			lat = append(lat, time.Since(start))
			check(b, rec.Code, rec.Body.Bytes())
		}
		b.StopTimer()
		percentiles(b, lat)
	})
}

func must(rec *httptest.ResponseRecorder, h http.Handler, path string) []byte {
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Body.Bytes()
}
