package redisstore_test

// Benchmarks of the store alone against a fresh redis-server (internal/testenv; they skip when
// redis-server is missing). Nothing here runs without -bench.
//
//	go test -run '^$' -bench . -benchmem ./timeline/redisstore
//	go test -run '^$' -bench Memory -benchtime 10000x ./timeline/redisstore   # exactly 10,000 events
//
// The batches are the ones the receiver builds from captured Alertmanager payloads, so event sizes
// are realistic; each iteration changes the occurrence key, alias and event id so it is new work.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

const benchFixtures = "../../receiver/testdata/alertmanager/v0.25.0/"

// captureRecorder keeps the batch the receiver hands to its store.
type captureRecorder struct{ b timeline.Batch }

func (c *captureRecorder) Record(_ context.Context, b timeline.Batch) (timeline.Result, error) {
	c.b = b
	return timeline.Result{}, nil
}

// capturedBatch is the batch the receiver builds from a captured payload.
func capturedBatch(tb testing.TB, name string) timeline.Batch {
	tb.Helper()
	body, err := os.ReadFile(benchFixtures + name)
	if err != nil {
		tb.Fatal(err)
	}
	c := &captureRecorder{}
	h := receiver.New(receiver.Options{Store: c})
	req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := h.Alertmanager(echo.New().NewContext(req, httptest.NewRecorder())); err != nil {
		tb.Fatal(err)
	}
	return c.b
}

// variant returns b for group g with every occurrence made new by n: fresh key, alias and event id.
// The event JSON (and so its size) stays the captured one.
func variant(b timeline.Batch, g, n int) timeline.Batch {
	out := b
	out.Group = fmt.Sprintf("%s-bench-%d", b.Group, g)
	out.Open.ID = fmt.Sprintf("20261123-bench-g%d", g)
	if len(b.Links) > 0 {
		// The link other senders know the group's outage by, for the new group; the captured one
		// would make every group join the first group's incident.
		out.Links = []string{receiver.AlertmanagerLink(out.Group)}
	}
	out.Occurrences = make([]timeline.Occurrence, len(b.Occurrences))
	for i, o := range b.Occurrences {
		fp := fmt.Sprintf("%016x", uint64(n)<<8|uint64(i))
		o.Alias = fp
		o.Key = fp + ":" + strconv.FormatInt(o.Event.At.UnixNano()+int64(n), 10)
		o.Event.ID = timeline.EventID(timeline.SourceAlertmanager, out.Group+"\x00"+o.Key)
		out.Occurrences[i] = o
	}
	return out
}

// reoccurrence returns b for group g with every alert firing anew by n: the alerts (aliases) stay
// the captured ones, occurrence keys and event ids are new, as bench/load.sh's storm mode sends them.
func reoccurrence(b timeline.Batch, g, n int) timeline.Batch {
	out := variant(b, g, n)
	for i, o := range out.Occurrences {
		o.Alias = b.Occurrences[i].Alias
		o.Key = o.Alias + ":" + strconv.FormatInt(o.Event.At.UnixNano()+int64(n), 10)
		o.Event.ID = timeline.EventID(timeline.SourceAlertmanager, out.Group+"\x00"+o.Key)
		out.Occurrences[i] = o
	}
	return out
}

type benchRedis struct {
	rdb   *redis.Client
	store *redisstore.Store
}

func newBenchRedis(b *testing.B) *benchRedis {
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
	return &benchRedis{rdb: rdb, store: redisstore.New(rdb, redisstore.Options{})}
}

func (r *benchRedis) record(b *testing.B, batch timeline.Batch) timeline.Result {
	res, err := r.store.Record(context.Background(), batch)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

func (r *benchRedis) usedMemory(b *testing.B) int64 {
	b.Helper()
	info, err := r.rdb.InfoMap(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	n, _ := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	return n
}

// memoryByKind sums MEMORY USAGE (SAMPLES 0: exact) over every key, by what the key holds.
func (r *benchRedis) memoryByKind(b *testing.B) (byKind map[string]int64, events int64) {
	b.Helper()
	ctx := context.Background()
	byKind = map[string]int64{}
	iter := r.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		n, err := r.rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		kind := "other"
		switch {
		case strings.Contains(k, ":g:"):
			kind = "dedupe" // per-group hash: occurrence states and aliases
		case strings.HasSuffix(k, ":e"):
			kind = "stream"
			events += r.rdb.XLen(ctx, k).Val()
		case strings.HasSuffix(k, ":d"), strings.HasSuffix(k, ":s"), strings.Contains(k, ":i:"):
			kind = "incident" // incident hash, services set, keyed-event dedupe
		case strings.Contains(k, ":x:"):
			kind = "index"
		}
		byKind[kind] += n
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	return byKind, events
}

func reportMemory(b *testing.B, r *benchRedis, usedBefore int64) {
	b.Helper()
	byKind, events := r.memoryByKind(b)
	if events == 0 {
		return
	}
	var total int64
	for _, n := range byKind {
		total += n
	}
	ev := float64(events)
	b.ReportMetric(float64(r.usedMemory(b)-usedBefore)/ev, "used_memory-B/event")
	b.ReportMetric(float64(total)/ev, "keys-B/event")
	b.ReportMetric(float64(byKind["stream"])/ev, "stream-B/event")
	b.ReportMetric(float64(byKind["dedupe"])/ev, "dedupe-B/event")
	b.ReportMetric(float64(byKind["incident"]+byKind["index"])/ev, "incident-B/event")
}

// resetRedisStats zeroes Redis' per-command statistics (CONFIG RESETSTAT on our own server).
func (r *benchRedis) resetRedisStats(b *testing.B) {
	b.Helper()
	if err := r.rdb.ConfigResetStat(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
}

// reportRedisTime reports how long Redis spent executing one call of cmd on average (server time,
// without network and client): for evalsha, the Lua script's cost.
func (r *benchRedis) reportRedisTime(b *testing.B, cmd string) {
	b.Helper()
	stats, err := r.rdb.InfoMap(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, kv := range strings.Split(stats["Commandstats"]["cmdstat_"+cmd], ",") {
		if v, ok := strings.CutPrefix(kv, "usec_per_call="); ok {
			us, _ := strconv.ParseFloat(v, 64)
			b.ReportMetric(us/1000, "redis-"+cmd+"-ms")
		}
	}
}

// redisCPU is the CPU time redis-server has used (user and system, all threads), from INFO cpu.
func (r *benchRedis) redisCPU(b *testing.B) time.Duration {
	b.Helper()
	info, err := r.rdb.InfoMap(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var s float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, _ := strconv.ParseFloat(info["CPU"][k], 64)
		s += v
	}
	return time.Duration(s * float64(time.Second))
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation of this process and of redis-server since cpu0 and
// rcpu0. The batches the loop builds (variant) count in cpu-us/op: they cost the same in every
// version, so differences are the store's.
func reportCPU(b *testing.B, cpu0 time.Duration, r *benchRedis, rcpu0 time.Duration) {
	b.Helper()
	n := float64(b.N)
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/n, "cpu-us/op")
	b.ReportMetric(float64(r.redisCPU(b)-rcpu0)/float64(time.Microsecond)/n, "redis-cpu-us/op")
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkRecord applies the receiver's batches: one new alert (01-first-firing) per iteration,
// spread over 100 groups; the first 20 alerts of the storm, new occurrences each time, over 100
// groups, the same alerts firing anew each time (bench/load.sh's a20); the same batch again (duplicate); and a 200-alert storm
// (10-storm-200). cpu-us/op is this process's CPU time and redis-cpu-us/op redis-server's (INFO
// cpu), both far less disturbed by other jobs on a shared machine than ns/op.
func BenchmarkRecord(b *testing.B) {
	single := capturedBatch(b, "01-first-firing.json")
	storm := capturedBatch(b, "10-storm-200-firing.json")
	storm20 := storm
	storm20.Occurrences = storm.Occurrences[:20]
	for _, tc := range []struct {
		name     string
		batch    func(i int) timeline.Batch
		appended int
	}{
		{"1-alert", func(i int) timeline.Batch { return variant(single, i%100, i) }, 1},
		{"20-alert", func(i int) timeline.Batch { return reoccurrence(storm20, i%100, i) }, 20},
		{"storm-200", func(i int) timeline.Batch { return variant(storm, 0, i) }, 200},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newBenchRedis(b)
			before := r.usedMemory(b)
			lat := make([]time.Duration, 0, b.N)
			r.resetRedisStats(b)
			b.ReportAllocs()
			cpu0, rcpu0 := cpuTime(), r.redisCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch := tc.batch(i)
				start := time.Now()
				if res := r.record(b, batch); res.Appended != tc.appended {
					b.Fatalf("result %+v", res)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportCPU(b, cpu0, r, rcpu0)
			reportLatency(b, lat)
			r.reportRedisTime(b, "evalsha")
			reportMemory(b, r, before)
		})
	}
	b.Run("duplicate", func(b *testing.B) {
		r := newBenchRedis(b)
		batch := variant(single, 0, 0)
		r.record(b, batch)
		r.resetRedisStats(b)
		b.ReportAllocs()
		cpu0, rcpu0 := cpuTime(), r.redisCPU(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if res := r.record(b, batch); res.Duplicates != 1 {
				b.Fatalf("result %+v", res)
			}
		}
		b.StopTimer()
		reportCPU(b, cpu0, r, rcpu0)
		r.reportRedisTime(b, "evalsha")
	})
}

// BenchmarkMemoryPerEvent stores b.N realistic single-alert events (run with -benchtime 10000x for
// exactly 10,000) into one incident, 100 incidents, and one incident per 10 events, and reports
// Redis memory per event: used_memory growth, and MEMORY USAGE of every key split into the event
// streams, the per-group dedupe hashes and the incident records and indexes. Target (d): <= 600.
func BenchmarkMemoryPerEvent(b *testing.B) {
	single := capturedBatch(b, "01-first-firing.json")
	for _, layout := range []struct {
		name   string
		groups func(n int) int
	}{
		{"1-incident", func(int) int { return 1 }},
		{"100-incidents", func(int) int { return 100 }},
		{"10-events-per-incident", func(n int) int { return max(1, n/10) }},
	} {
		b.Run(layout.name, func(b *testing.B) {
			r := newBenchRedis(b)
			groups := layout.groups(b.N)
			before := r.usedMemory(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.record(b, variant(single, i%groups, i))
			}
			b.StopTimer()
			reportMemory(b, r, before)
		})
	}
}

// BenchmarkEntries10k reads a 10,000-event incident's entries and sorts them as the read API does:
// "uncached" with the store's read cache off (XRANGE of the whole stream, decoded), "cached" with
// it warm (Redis is asked only for entries after the last one cached: none). "naive" is the
// yardstick for the uncached read: the same 10,000 events stored as plain JSON, read with go-redis'
// XRange and decoded and encoded again with encoding/json. cpu-ms/op is this process's CPU time
// (getrusage), which other jobs on a shared machine disturb far less than the wall-clock ns/op.
func BenchmarkEntries10k(b *testing.B) {
	r := newBenchRedis(b)
	storm := capturedBatch(b, "10-storm-200-firing.json")
	var id string
	for i := 0; i < 50; i++ {
		id = r.record(b, variant(storm, 0, i)).IncidentID
	}
	b.Run("naive", func(b *testing.B) {
		ctx := context.Background()
		store := redisstore.New(r.rdb, redisstore.Options{ReadCacheBytes: -1})
		es, err := store.Entries(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		const key = "naive:e"
		pipe := r.rdb.Pipeline()
		pipe.Del(ctx, key)
		for _, e := range es {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"t", e.At, "e", e.JSON}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		lat := make([]time.Duration, 0, b.N)
		cpu0 := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			msgs, err := r.rdb.XRange(ctx, key, "-", "+").Result()
			if err != nil || len(msgs) != 10000 {
				b.Fatalf("%d entries, %v", len(msgs), err)
			}
			evs := make([]timeline.Event, len(msgs))
			for k, m := range msgs {
				if err := json.Unmarshal([]byte(m.Values["e"].(string)), &evs[k]); err != nil {
					b.Fatal(err)
				}
			}
			sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
			if _, err := json.Marshal(evs); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		reportLatency(b, lat)
	})
	for _, tc := range []struct {
		name  string
		cache int
	}{{"uncached", -1}, {"cached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			store := redisstore.New(r.rdb, redisstore.Options{ReadCacheBytes: tc.cache})
			ctx := context.Background()
			es, err := store.Entries(ctx, id) // fills the cache, if any
			if err != nil || len(es) != 10000 {
				b.Fatalf("%d entries, %v", len(es), err)
			}
			var size int64
			for _, e := range es {
				size += int64(len(e.JSON))
			}
			lat := make([]time.Duration, 0, b.N)
			r.resetRedisStats(b)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				es, err := store.Entries(ctx, id)
				if err != nil || len(es) != 10000 {
					b.Fatalf("%d entries, %v", len(es), err)
				}
				timeline.SortEntries(es)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			b.SetBytes(size)
			reportLatency(b, lat)
			// How much of it is Redis executing XRANGE (server time, without the transfer).
			r.reportRedisTime(b, "xrange")
		})
	}
}

// BenchmarkEventCodec compresses and decompresses the events of captured payloads (the storm's
// firing and resolved alerts and smaller notifications) as the store does now (S2 with eventDict)
// and as the first compact format did (zstd frames with eventDict). cpu-ns/event is this
// process's CPU time per event, B/event the stored size.
func BenchmarkEventCodec(b *testing.B) {
	var evs [][]byte
	var raw int
	for _, name := range []string{"01-first-firing.json", "02-second-alert-joins.json", "04-all-resolved.json",
		"10-storm-200-firing.json", "10-storm-200-resolved.json"} {
		batch := capturedBatch(b, name)
		for _, o := range batch.Occurrences {
			js, err := o.Event.AppendJSON(nil)
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, js)
			raw += len(js)
		}
	}
	for _, codec := range []struct {
		name   string
		encode func([]byte) []byte
	}{
		{"s2", redisstore.CompressEvent},
		{"zstd", func(js []byte) []byte { return redisstore.ZstdFrame(b, js) }},
	} {
		stored := make([][]byte, len(evs))
		b.Run(codec.name+"/encode", func(b *testing.B) {
			size := 0
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				size = 0
				for k, js := range evs {
					stored[k] = codec.encode(js)
					size += len(stored[k])
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*len(evs)), "cpu-ns/event")
			b.ReportMetric(float64(size)/float64(len(evs)), "B/event")
			b.ReportMetric(float64(raw)/float64(len(evs)), "json-B/event")
		})
		b.Run(codec.name+"/decode", func(b *testing.B) {
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				for k, v := range stored {
					js, err := redisstore.DecodeEventValue(v)
					if err != nil || len(js) != len(evs[k]) {
						b.Fatalf("event %d: %v", k, err)
					}
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*len(evs)), "cpu-ns/event")
		})
	}
}
