//go:build linux

// Fault tests with real processes: replicas of the real binary that share nothing but a real
// redis-server, a replica killed with SIGKILL, Redis killed with kill -9 and restarted from its
// append-only file, and a Sentinel failover. The senders here are small Go loops that post
// Alertmanager notifications and retry as Alertmanager does (on a 5xx or a broken connection), so a
// stream of thousands of distinct alerts takes seconds; what they check is what an operator would:
// every notification postmortemd acknowledged (200) is on the timeline.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// kill ends the service with SIGKILL, as a crash or the OOM killer would: no shutdown at all.
func (s *e2eService) kill(t *testing.T) {
	t.Helper()
	s.stopped = true
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL postmortemd: %v", err)
	}
	<-s.done
}

// faultNotification is the Alertmanager webhook body (version 4) notifying one alert of group name.
func faultNotification(a testenv.Alert, status string) []byte {
	fp := sha256.Sum256([]byte(a.Labels["instance"]))
	alert := map[string]any{"status": status, "labels": a.Labels, "annotations": a.Annotations,
		"startsAt": a.StartsAt.Format(time.RFC3339Nano), "endsAt": "0001-01-01T00:00:00Z",
		"generatorURL": a.GeneratorURL, "fingerprint": hex.EncodeToString(fp[:8])}
	if status == "resolved" {
		alert["endsAt"] = a.EndsAt.Format(time.RFC3339Nano)
	}
	name := a.Labels["alertname"]
	b, _ := json.Marshal(map[string]any{"version": "4", "groupKey": e2eGroup(name), "truncatedAlerts": 0,
		"status": status, "receiver": "postmortemd", "groupLabels": map[string]string{"alertname": name},
		"commonLabels": map[string]string{"alertname": name}, "commonAnnotations": map[string]string{},
		"externalURL": "http://127.0.0.1:9093", "alerts": []any{alert}})
	return b
}

// faultSender posts notifications to replicas behind no load balancer: it tries them in turn, as a
// Service would route around a dead pod, and retries a notification until one acknowledges it.
type faultSender struct {
	client  *http.Client
	targets []string // webhook URLs
	// down, if set, reports a target the test killed, so the sender routes around it at once.
	down func(i int) bool

	acked       atomic.Int64
	unavailable atomic.Int64 // 503 answers
	broken      atomic.Int64 // connection errors (a replica killed mid-request, Redis gone)
	// after counts 503 answers to requests sent after afterFrom was set (see sentinel test).
	afterFrom atomic.Bool
	after     atomic.Int64
}

func newFaultSender(targets ...string) *faultSender {
	return &faultSender{targets: targets,
		client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}}
}

// deliver posts body until a replica answers 200, starting with target first. It gives up, and
// reports it, when ctx ends.
func (s *faultSender) deliver(ctx context.Context, first int, body []byte) error {
	for attempt := 0; ; attempt++ {
		i := (first + attempt) % len(s.targets)
		if s.down != nil && s.down(i) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("not acknowledged before the test's deadline: %w", err)
		}
		sentAfter := s.afterFrom.Load()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.targets[i], strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Alertmanager/0.28.1")
		resp, err := s.client.Do(req)
		if err != nil {
			s.broken.Add(1)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			s.acked.Add(1)
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable:
			s.unavailable.Add(1)
			if sentAfter {
				s.after.Add(1)
			}
			time.Sleep(50 * time.Millisecond) // Alertmanager backs off too
		default:
			return fmt.Errorf("answered %d, which a sender does not retry", resp.StatusCode)
		}
	}
}

// stream fires alerts from..to of group name through n concurrent senders, calling during(k) once
// the k-th alert (counted across senders) was acknowledged, for each k in at. It returns the
// alerts, all acknowledged.
func (s *faultSender) stream(t *testing.T, name string, n, from, to int, at map[int]func()) []testenv.Alert {
	t.Helper()
	alerts := e2eStorm(name, from, to, time.Now().Add(-time.Minute).Truncate(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		next  atomic.Int64
		done  atomic.Int64
		mu    sync.Mutex
		errs  []error
		wg    sync.WaitGroup
		fired = map[int]bool{}
	)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(alerts) {
					return
				}
				if err := s.deliver(ctx, w, faultNotification(alerts[k], "firing")); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("alert %s: %w", alerts[k].Labels["instance"], err))
					mu.Unlock()
					return
				}
				c := int(done.Add(1))
				mu.Lock()
				f, ok := at[c]
				if ok && !fired[c] {
					fired[c] = true
				} else {
					f = nil
				}
				mu.Unlock()
				if f != nil {
					f()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return alerts
}

// wantAllStored checks that svc's timeline of group name holds every alert's firing fact, once.
func wantAllStored(t *testing.T, svc *e2eService, name string, alerts []testenv.Alert) e2eTimeline {
	t.Helper()
	tl := svc.waitTimeline(t, e2eGroup(name), "every acknowledged alert on the timeline", func(tl e2eTimeline) error {
		return e2eWantFacts(tl, "Alertmanager (receiver postmortemd)", true, e2eFiringFacts(alerts)...)
	})
	if incs, err := svc.incidents("", e2eGroup(name)); err != nil || len(incs) != 1 {
		t.Errorf("incidents of the group: %+v %v, want one", incs, err)
	}
	return tl
}

// A replica is killed with SIGKILL while senders stream distinct alerts to both replicas: the
// alerts in flight on the dead replica are retried on the other, and every alert either replica
// acknowledged is on the one incident's timeline, once.
func TestE2E_ReplicaKilledMidStreamLosesNoAcknowledgedAlert(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	prefix := fmt.Sprintf("{pm-kill-%d}", time.Now().UnixNano())
	a := startE2EService(t, rds.URL(), "--redis-key-prefix", prefix)
	b := startE2EService(t, rds.URL(), "--redis-key-prefix", prefix)
	var dead atomic.Bool
	s := newFaultSender(a.webhook(), b.webhook())
	s.down = func(i int) bool { return i == 0 && dead.Load() }
	const name, total = "E2EReplicaKill", 1500
	alerts := s.stream(t, name, 6, 0, total, map[int]func(){total / 3: func() { a.kill(t); dead.Store(true) }})
	if !dead.Load() {
		t.Fatal("the replica was not killed during the stream")
	}
	wantAllStored(t, b, name, alerts)
	t.Logf("%d alerts acknowledged; %d requests broke when the replica died and were retried", s.acked.Load(), s.broken.Load())
}

// Redis, with its append-only file synced every second, is killed with kill -9 mid-stream and
// started again: postmortemd answers 503 while it is down, the senders retry, and every alert
// acknowledged before, during and after the crash is on the timeline. A process crash loses
// nothing acknowledged (the kernel has every write); see the README for what an OS crash can.
func TestE2E_RedisKilledAndRestartedFromItsAOFLosesNothingAcknowledged(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedisWith(t, "--appendonly", "yes", "--appendfsync", "everysec")
	svc := startE2EService(t, rds.URL(), "--store-timeout", "1s")
	s := newFaultSender(svc.webhook())
	const name, total = "E2ERedisKill", 1500
	var restarted sync.WaitGroup
	restarted.Add(1)
	alerts := s.stream(t, name, 4, 0, total, map[int]func(){total / 3: func() {
		rds.Kill()
		go func() { // back after the senders have met the outage
			defer restarted.Done()
			for s.unavailable.Load()+s.broken.Load() < 10 {
				time.Sleep(10 * time.Millisecond)
			}
			rds.Start()
		}()
	}})
	restarted.Wait()
	if s.unavailable.Load() == 0 {
		t.Error("no webhook was answered 503 while Redis was down")
	}
	wantAllStored(t, svc, name, alerts)
	e2eWantReady(t, svc)
	t.Logf("%d alerts acknowledged; %d answers were 503 while Redis was down", s.acked.Load(), s.unavailable.Load())
}

// A real Sentinel fails the primary over to its replica while alerts stream in: webhooks are
// answered 503 while there is no primary, none once postmortemd follows the new one, and the
// senders' retries leave a complete timeline on the promoted replica. postmortemd runs with
// --redis-wait-replicas 1, so nothing it acknowledged was only on the primary that died: without it
// an alert acknowledged in the last instant before the kill could be missing (replication is
// asynchronous). The old primary comes back as the new one's replica, as an operator would bring
// it back, and from then on webhooks are answered 200 again.
func TestE2E_SentinelFailoverLeavesCompleteTimelines(t *testing.T) {
	e2eTest(t)
	primary := testenv.StartRedisWith(t)
	host, port, _ := strings.Cut(primary.Addr(), ":")
	replica := testenv.StartRedisWith(t, "--replicaof", host, port)
	ctx := context.Background()
	rrdb := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer rrdb.Close()
	e2eEventually(t, 20*time.Second, "the replica is in sync", func() error {
		if info := rrdb.Info(ctx, "replication").Val(); !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica: %s", info)
		}
		return nil
	})
	sentinel := testenv.StartRedisSentinel(t, primary, "pm", time.Second)
	srdb := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr()})
	defer srdb.Close()
	e2eEventually(t, 20*time.Second, "the Sentinel knows the replica", func() error {
		rs, err := srdb.Replicas(ctx, "pm").Result()
		if err != nil || len(rs) == 0 {
			return fmt.Errorf("replicas %v %v", rs, err)
		}
		return nil
	})
	svc := startE2EService(t, "", "--redis-sentinel-addr", sentinel.Addr(), "--redis-sentinel-master", "pm", "--store-timeout", "1s",
		"--redis-wait-replicas", "1", "--redis-wait-timeout", "500ms")

	s := newFaultSender(svc.webhook())
	const name, total = "E2EFailover", 400
	var switched sync.WaitGroup
	switched.Add(1)
	alerts := s.stream(t, name, 4, 0, total, map[int]func(){total / 4: func() {
		primary.Kill()
		go func() {
			defer switched.Done()
			e2eEventually(t, 30*time.Second, "the Sentinel promotes the replica", func() error {
				addr, err := srdb.GetMasterAddrByName(ctx, "pm").Result()
				if err != nil || strings.Join(addr, ":") != replica.Addr() {
					return fmt.Errorf("primary %v %v", addr, err)
				}
				return nil
			})
			// Until the new primary has a replica, writes wait for one in vain and are answered
			// 503; the old primary, started again empty, is made its replica by the Sentinel.
			primary.Start()
			// From the first delivery acknowledged after the switch, no more 503.
			before := s.acked.Load()
			for s.acked.Load() == before {
				time.Sleep(5 * time.Millisecond)
			}
			s.afterFrom.Store(true)
		}()
	}})
	switched.Wait()
	rest := s.stream(t, name, 4, total, total+100, nil) // well after the switch
	if s.unavailable.Load() == 0 {
		t.Error("no webhook was answered 503 during the switch")
	}
	if n := s.after.Load(); n != 0 {
		t.Errorf("%d webhooks were answered 503 after postmortemd followed the new primary, want none", n)
	}
	wantAllStored(t, svc, name, append(alerts, rest...))
	e2eWantReady(t, svc)
	t.Logf("%d alerts acknowledged; %d answers 503 and %d broken requests during the switch", s.acked.Load(), s.unavailable.Load(), s.broken.Load())
}

// Two replicas with no shared disk keep the postmortems in Redis: the draft is written once, read
// on either, and of two edits of one version sent to the two replicas at once exactly one is saved
// and the other gets 412. The mirror directory is kept by one replica at a time and taken over when
// its holder dies; export writes the postmortems once.
func TestE2E_ReplicasShareThePostmortemsInRedis(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	prefix := fmt.Sprintf("{pm-docs-%d}", time.Now().UnixNano())
	args := []string{"--postmortems-store", "redis", "--resolve-grace", "1s", "--redis-key-prefix", prefix}
	a := startE2EService(t, rds.URL(), args...)
	b := startE2EService(t, rds.URL(), args...)

	alert := e2eAlert("E2ESharedDocs", "db-1", "critical", "replication lag above 30s", time.Now().Add(-time.Minute))
	s := newFaultSender(a.webhook())
	if err := s.deliver(context.Background(), 0, faultNotification(alert, "firing")); err != nil {
		t.Fatal(err)
	}
	resolved := e2eResolve(alert, time.Now())
	if err := s.deliver(context.Background(), 0, faultNotification(resolved, "resolved")); err != nil {
		t.Fatal(err)
	}
	incs, err := a.incidents("resolved", e2eGroup("E2ESharedDocs"))
	if err != nil || len(incs) != 1 {
		t.Fatalf("resolved incidents %+v %v", incs, err)
	}
	path := "/api/v1/postmortems/" + incs[0].ID
	read := func() (md, etag string) {
		t.Helper()
		e2eEventually(t, 30*time.Second, "the draft, read on the other replica", func() error {
			resp, body, err := b.do(http.MethodGet, path, "", nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %v %v", path, resp, err)
			}
			md, etag = body, resp.Header.Get("ETag")
			return nil
		})
		if !strings.Contains(md, "E2ESharedDocs") || etag == "" {
			t.Fatalf("draft %q with ETag %q", md, etag)
		}
		return md, etag
	}

	// Two people edit the same version, one on each replica, at once. The worker may merge news
	// (the review meeting being booked) in between, and then both edits get 412: read again and
	// retry, as people do. Two 200s would be a lost update.
	won := -1
	for attempt := 1; won < 0; attempt++ {
		if attempt > 10 {
			t.Fatal("the two edits never raced alone in 10 attempts")
		}
		md, etag := read()
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i, svc := range []*e2eService{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				edit := strings.Replace(md, "tags: []", fmt.Sprintf("tags: [editor-%d]", i), 1)
				resp, body, err := svc.do(http.MethodPut, path, edit, map[string]string{"If-Match": etag, "Content-Type": "text/markdown"})
				if err != nil {
					t.Errorf("PUT on replica %d: %v", i, err)
					return
				}
				codes[i] = resp.StatusCode
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPreconditionFailed {
					t.Errorf("PUT on replica %d: %d %s", i, resp.StatusCode, body)
				}
			}()
		}
		wg.Wait()
		switch {
		case codes[0] == http.StatusOK && codes[1] == http.StatusOK:
			t.Fatal("both edits of one version were saved: one was lost")
		case codes[0] == http.StatusOK:
			won = 0
		case codes[1] == http.StatusOK:
			won = 1
		default:
			t.Logf("attempt %d: both edits got 412 (the document changed before either was saved); reading again", attempt)
		}
	}
	for _, svc := range []*e2eService{a, b} {
		_, body, err := svc.do(http.MethodGet, path, "", nil)
		if err != nil || !strings.Contains(body, fmt.Sprintf("tags: [editor-%d]", won)) {
			t.Fatalf("a replica does not serve the winning edit: %v", err)
		}
	}

	// The mirror: each replica was started with a drafts directory of its own; one writes it.
	file := func(svc *e2eService) string {
		m, _ := filepath.Glob(filepath.Join(svc.draftsDir(), "*-e2eshareddocs-*.md"))
		if len(m) == 0 {
			return ""
		}
		got, _ := os.ReadFile(m[0])
		return string(got)
	}
	var holder, other *e2eService
	e2eEventually(t, 30*time.Second, "one replica mirrors the postmortem", func() error {
		fa, fb := file(a), file(b)
		switch {
		case fa != "" && fb == "":
			holder, other = a, b
		case fb != "" && fa == "":
			holder, other = b, a
		default:
			return fmt.Errorf("mirror files on a: %v, on b: %v", fa != "", fb != "")
		}
		if !strings.Contains(file(holder), fmt.Sprintf("editor-%d", won)) {
			return fmt.Errorf("the mirror does not show the edit yet")
		}
		return nil
	})
	holder.kill(t)
	e2eEventually(t, 60*time.Second, "the other replica takes over the mirror", func() error {
		if !strings.Contains(file(other), fmt.Sprintf("editor-%d", won)) {
			return fmt.Errorf("no mirrored postmortem on the other replica yet")
		}
		return nil
	})

	// postmortemd export writes the postmortems once.
	out := t.TempDir()
	cmd := exec.Command(e2eBinary(t), "export", "--dir", out, "--postmortems-store", "redis", "--redis-url", rds.URL(), "--redis-key-prefix", prefix)
	cmd.Env = e2eEnv()
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "exported 1 postmortems") {
		t.Fatalf("export: %v\n%s", err, got)
	}
	m, _ := filepath.Glob(filepath.Join(out, "*-e2eshareddocs-*.md"))
	if len(m) != 1 {
		t.Fatalf("exported files %v, want the one postmortem", m)
	}
	if b, _ := os.ReadFile(m[0]); !strings.Contains(string(b), fmt.Sprintf("editor-%d", won)) {
		t.Fatal("the exported postmortem is not the saved edit")
	}
}
