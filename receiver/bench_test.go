package receiver

// Benchmarks of the webhook path against a real redis-server (internal/testenv starts one on a free
// port; they skip when redis-server is missing). Nothing here runs without -bench.
//
//	go test -run '^$' -bench . -benchmem ./receiver
//
// Custom metrics: p50-ms/p99-ms are per-delivery latencies of the handler call (decode, batch,
// Record, JSON answer); events/op counts events stored per delivery; bytes/event is the growth of
// Redis' used_memory divided by the events stored (dedupe state included; with few iterations the
// incidents' fixed cost dominates it: use -benchtime 10000x for target (d), or bench/load.sh).

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

const benchDir = "testdata/alertmanager/v0.25.0/"

// benchTemplate is a captured payload cut at the values a benchmark varies, so each iteration can
// send a new fact (or the same one again) without re-parsing the JSON.
type benchTemplate struct {
	parts [][]byte // len(parts) == len(holes)+1
	holes []string // which value goes between parts[i] and parts[i+1]
}

var reJSONString = regexp.MustCompile(`"(startsAt|fingerprint|groupKey)":"(?:[^"\\]|\\.)*"`)

// newBenchTemplate cuts body at every "startsAt", "fingerprint" and "groupKey" value.
func newBenchTemplate(tb testing.TB, path string) *benchTemplate {
	tb.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	t := &benchTemplate{}
	last := 0
	for _, m := range reJSONString.FindAllSubmatchIndex(body, -1) {
		name := string(body[m[2]:m[3]])
		valStart := m[3] + len(`":"`)
		t.parts = append(t.parts, body[last:valStart])
		t.holes = append(t.holes, name)
		last = m[1] - 1 // keep the closing quote in the next part
	}
	t.parts = append(t.parts, body[last:])
	return t
}

// fill appends the payload with the given values to dst. fp gets the alert's index appended so the
// alerts of a storm stay distinct.
func (t *benchTemplate) fill(dst []byte, group int, fpBase uint64, startsAt time.Time) []byte {
	alert := 0
	for i, p := range t.parts {
		dst = append(dst, p...)
		if i == len(t.holes) {
			break
		}
		switch t.holes[i] {
		case "startsAt":
			dst = startsAt.AppendFormat(dst, time.RFC3339Nano)
		case "fingerprint":
			dst = fmt.Appendf(dst, "%016x", fpBase+uint64(alert))
			alert++
		case "groupKey":
			dst = fmt.Appendf(dst, `{}:{alertname=\"BenchGroup%d\"}`, group)
		}
	}
	return dst
}

type benchEnv struct {
	h   *Handler
	rdb *redis.Client
	e   *echo.Echo
}

// newBenchEnv starts a fresh redis-server and a Handler on it, wired as cmd/postmortemd wires it
// (same client timeouts, metrics on, logging at warn).
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	srv := testenv.StartRedis(b) // skips when redis-server is missing
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries = 2*time.Second, 3*time.Second, 3*time.Second, 1
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { rdb.Close() })
	if !srv.Started {
		b.Skip("benchmarks measure a fresh redis-server; unset " + testenv.RedisURLEnv)
	}
	store := redisstore.New(rdb, redisstore.Options{})
	h := New(Options{Store: store, Metrics: NewMetrics(nil)})
	return &benchEnv{h: h, rdb: rdb, e: echo.New()}
}

// post runs the handler on body as Echo would; anything but 200 is an error.
func (env *benchEnv) post(body []byte) error {
	req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	if err := env.h.Alertmanager(env.e.NewContext(req, rec)); err != nil || rec.Code != http.StatusOK {
		return fmt.Errorf("delivery failed: %v (status %d)", err, rec.Code)
	}
	return nil
}

// deliver is post from the benchmark's own goroutine.
func (env *benchEnv) deliver(b *testing.B, body []byte) {
	if err := env.post(body); err != nil {
		b.Fatal(err)
	}
}

func (env *benchEnv) usedMemory(b *testing.B) int64 {
	b.Helper()
	info, err := env.rdb.InfoMap(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func (env *benchEnv) streamEvents(b *testing.B) int64 {
	b.Helper()
	ctx := context.Background()
	var total int64
	iter := env.rdb.Scan(ctx, 0, "*:e", 1000).Iterator()
	for iter.Next(ctx) {
		total += env.rdb.XLen(ctx, iter.Val()).Val()
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	return total
}

// latencies collects per-iteration durations for percentile metrics.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	q := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()) / 1e6
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

var benchFP atomic.Uint64

// BenchmarkDecodeAndRecord delivers the captured single-alert notification (01-first-firing), each
// iteration a new alert (new fingerprint and startsAt) in one of 100 groups, so the incidents stay
// open and grow as they would under a real alert rate.
func BenchmarkDecodeAndRecord(b *testing.B) {
	tpl := newBenchTemplate(b, benchDir+"01-first-firing.json")
	base := time.Date(2026, 11, 23, 13, 18, 42, 0, time.UTC)
	b.Run("serial", func(b *testing.B) {
		env := newBenchEnv(b)
		before := env.usedMemory(b)
		lat := make(latencies, 0, b.N)
		var buf []byte
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			buf = tpl.fill(buf[:0], i%100, benchFP.Add(1)<<8, base.Add(time.Duration(i)*time.Millisecond))
			start := time.Now()
			env.deliver(b, buf)
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		lat.report(b)
		events := env.streamEvents(b)
		if events != int64(b.N) {
			b.Fatalf("%d events stored, want %d", events, b.N)
		}
		b.ReportMetric(float64(env.usedMemory(b)-before)/float64(events), "bytes/event")
	})
	// 64 deliveries in flight, as in bench/load.sh (a).
	b.Run("parallel64", func(b *testing.B) {
		env := newBenchEnv(b)
		var seq atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var buf []byte
			for pb.Next() {
				i := seq.Add(1)
				buf = tpl.fill(buf[:0], int(i%100), benchFP.Add(1)<<8, base.Add(time.Duration(i)*time.Millisecond))
				if err := env.post(buf); err != nil {
					b.Error(err) // not Fatal: this is not the benchmark's goroutine
					return
				}
			}
		})
	})
}

// BenchmarkDuplicate delivers the same notification again and again (a retry, a repeat_interval
// resend or an HA peer): after the first, each is one duplicate and stores nothing.
func BenchmarkDuplicate(b *testing.B) {
	env := newBenchEnv(b)
	body := newBenchTemplate(b, benchDir+"01-first-firing.json").fill(nil, 0, 0xd0b1e<<8,
		time.Date(2026, 11, 23, 13, 18, 42, 887585198, time.UTC))
	env.deliver(b, body)
	before := env.streamEvents(b)
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		env.deliver(b, body)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
	if after := env.streamEvents(b); after != before {
		b.Fatalf("duplicates stored %d events", after-before)
	}
}

// BenchmarkStorm200 delivers the captured 200-alert notification (10-storm-200-firing, 118 KiB),
// each iteration with a new startsAt for every alert, so each is 200 new facts appended to the
// group's open incident. Target (b): p99 <= 20 ms.
func BenchmarkStorm200(b *testing.B) {
	tpl := newBenchTemplate(b, benchDir+"10-storm-200-firing.json")
	env := newBenchEnv(b)
	base := time.Date(2026, 11, 23, 13, 19, 24, 0, time.UTC)
	before := env.usedMemory(b)
	lat := make(latencies, 0, b.N)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = tpl.fill(buf[:0], 0, benchFP.Add(1)<<8, base.Add(time.Duration(i)*time.Second))
		start := time.Now()
		env.deliver(b, buf)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
	events := env.streamEvents(b)
	if events != int64(200*b.N) {
		b.Fatalf("%d events stored, want %d", events, 200*b.N)
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
	b.ReportMetric(float64(env.usedMemory(b)-before)/float64(events), "bytes/event")
}

// BenchmarkDecode is the Go-only part of a delivery, without Redis: JSON decode and the batch the
// store is given (one sub-benchmark per payload). It shows how much of a delivery is ours.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"01-first-firing.json", "10-storm-200-firing.json"} {
		body, err := os.ReadFile(benchDir + name)
		if err != nil {
			b.Fatal(err)
		}
		h := New(Options{})
		now := time.Now()
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				m, err := decodeAlertmanager(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.batch(m, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Compile-time check that the benchmarks use the store through the interface the handler sees.
var _ timeline.Recorder = (*redisstore.Store)(nil)
