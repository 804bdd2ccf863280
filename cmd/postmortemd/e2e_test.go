//go:build linux

// End-to-end tests: the real postmortemd binary, built once per test run, fed by real Alertmanager
// processes and storing into a real redis-server (internal/testenv), and read back over its HTTP API
// as an operator would.
//
// They are Linux-only because the binary under test is tied to the test binary's life with a
// parent-death signal (so a timed-out run leaves no service listening) and the Redis-hang test checks
// /proc before it stops a process. They are skipped with -short.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// e2eVersion is linked into the binary under test, so --version can be checked exactly.
const e2eVersion = "e2e-test"

// e2eBuild is the binary every end-to-end test runs, built on first use.
var e2eBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := testenv.Main(m) // reports the integration tests skipped for want of a server
	if e2eBuild.dir != "" {
		_ = os.RemoveAll(e2eBuild.dir)
	}
	os.Exit(code)
}

// e2eBinary builds ./cmd/postmortemd once and returns its path. It is built with -race when the
// test binary is, so `go test -race` also checks the service's own goroutines under real load; the
// race runtime and every dependency are already compiled for the test binary, so this costs only
// the main package and a link (a few seconds).
func e2eBinary(t *testing.T) string {
	t.Helper()
	e2eBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "postmortemd-e2e-")
		if err != nil {
			e2eBuild.err = err
			return
		}
		e2eBuild.dir = dir
		e2eBuild.path = filepath.Join(dir, "postmortemd")
		args := []string{"build", "-o", e2eBuild.path, "-ldflags", "-X main.version=" + e2eVersion}
		if e2eRaceEnabled() {
			args = append(args, "-race")
		}
		// `go test` puts its own GOROOT/bin first on PATH, so this is the toolchain under test.
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			e2eBuild.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if e2eBuild.err != nil {
		t.Fatalf("build postmortemd: %v", e2eBuild.err)
	}
	return e2eBuild.path
}

// e2eTest starts an end-to-end test: skipped with -short, otherwise run in parallel with the
// others (they spend most of their time waiting for Alertmanager's timers).
func e2eTest(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	t.Parallel()
}

func e2eRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// e2eEnv is the environment of the binary under test: the test's own without any POSTMORTEMD_*
// setting a developer may have exported, loopback kept away from proxies, plus extra.
func e2eEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return append(append(env, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost"), extra...)
}

var e2eListening = regexp.MustCompile(`msg="postmortemd listening" addr=(\S+)[ \n]`)

// e2eService is one running postmortemd process.
type e2eService struct {
	// URL is the service's base URL, http://127.0.0.1:PORT.
	URL     string
	log     *syncBuffer // everything the service writes
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	client  *http.Client
	drafts  string // --drafts-dir, unless args chose another
	stopped bool   // stop ran (the test stopped it early)
}

func (s *e2eService) draftsDir() string { return s.drafts }

// startE2EService runs the binary on a free loopback port with --redis-url redisURL (none: the
// embedded store) and args, and waits for its "listening" log line. A cleanup stops it with
// SIGTERM, fails the test unless it exits 0 within its shutdown timeout, and logs its output when
// the test failed.
func startE2EService(t *testing.T, redisURL string, args ...string) *e2eService {
	t.Helper()
	bin := e2eBinary(t)
	drafts := t.TempDir()
	argv := []string{"--listen", "127.0.0.1:0", "--log-level", "debug", "--shutdown-timeout", "10s", "--drafts-dir", drafts}
	if redisURL != "" {
		// A key prefix of its own, so that tests sharing an external Redis
		// (POSTMORTEMD_TEST_REDIS_URL) neither see nor touch each other's data.
		argv = append(argv, "--redis-url", redisURL, "--redis-key-prefix", fmt.Sprintf("{pm-e2e-%016x}", rand.Uint64()))
	}
	argv = append(argv, args...)
	s := &e2eService{log: &syncBuffer{}, done: make(chan struct{}), drafts: drafts,
		client: &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}}
	s.cmd = exec.Command(bin, argv...)
	s.cmd.Env = e2eEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start postmortemd: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("postmortemd %q output:\n%s", argv, s.log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := e2eListening.FindStringSubmatch(s.log.String()); m != nil {
			s.URL = "http://" + m[1]
			break
		}
		select {
		case <-s.done:
			t.Fatalf("postmortemd exited before listening: %v", s.cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("postmortemd did not log that it is listening within 30s")
		}
	}
	if host, _, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://")); host != "127.0.0.1" {
		t.Fatalf("postmortemd listens on %s, want 127.0.0.1", s.URL)
	}
	return s
}

// stop sends SIGTERM and requires a graceful exit: status 0, "stopped" logged, no data race.
func (s *e2eService) stop(t *testing.T) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	s.client.CloseIdleConnections()
	select {
	case <-s.done:
		t.Errorf("postmortemd exited by itself before the test ended: %v", s.cmd.ProcessState)
		return
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM postmortemd: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Error("postmortemd did not exit within 20s of SIGTERM")
		return
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("postmortemd exited with status %d after SIGTERM, want 0 (graceful shutdown)", code)
	}
	log := s.log.String()
	if !strings.Contains(log, `msg=stopped`) {
		t.Error(`postmortemd's log has no "stopped" line after SIGTERM`)
	}
	if strings.Contains(log, "WARNING: DATA RACE") {
		t.Error("the race detector reported a data race in postmortemd")
	}
}

// webhook is the URL Alertmanager posts to.
func (s *e2eService) webhook() string { return s.URL + "/webhook/alertmanager" }

func (s *e2eService) get(path string) (int, []byte, error) {
	resp, err := s.client.Get(s.URL + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (s *e2eService) getJSON(path string, v any) error {
	code, b, err := s.get(path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %v in %s", path, err, b)
	}
	return nil
}

// The API's JSON, declared here from the documented field names rather than borrowed from the
// timeline package, so that a renamed field breaks this test.
type (
	e2eIncident struct {
		ID         string            `json:"id"`
		Title      string            `json:"title"`
		Status     string            `json:"status"`
		Severity   string            `json:"severity"`
		StartedAt  time.Time         `json:"started_at"`
		ResolvedAt *time.Time        `json:"resolved_at"`
		Services   []string          `json:"services"`
		Labels     map[string]string `json:"labels"`
		Sources    map[string]string `json:"sources"`
		EventCount int64             `json:"event_count"`
	}
	e2eEvent struct {
		ID         string          `json:"id"`
		At         time.Time       `json:"at"`
		RecordedAt time.Time       `json:"recorded_at"`
		Source     string          `json:"source"`
		Type       string          `json:"type"`
		Kind       string          `json:"kind"`
		Role       string          `json:"role"`
		Fact       string          `json:"fact"`
		Attributes json.RawMessage `json:"attributes"`
	}
	e2eTimeline struct {
		Incident e2eIncident `json:"incident"`
		Events   []e2eEvent  `json:"events"`
	}
)

// incidents lists the incidents of one Alertmanager group (all of them for group ""), newest
// first; status is "", "open" or "resolved".
func (s *e2eService) incidents(status, group string) ([]e2eIncident, error) {
	var list struct {
		Incidents []e2eIncident `json:"incidents"`
	}
	path := "/api/v1/incidents"
	if status != "" {
		path += "?status=" + status
	}
	if err := s.getJSON(path, &list); err != nil {
		return nil, err
	}
	var out []e2eIncident
	for _, inc := range list.Incidents {
		if group == "" || inc.Sources["alertmanager.group_key"] == group {
			out = append(out, inc)
		}
	}
	return out, nil
}

func (s *e2eService) timeline(id string) (e2eTimeline, error) {
	var tl e2eTimeline
	err := s.getJSON("/api/v1/incidents/"+id+"/timeline", &tl)
	return tl, err
}

// latestTimeline is the timeline of the group's newest incident.
func (s *e2eService) latestTimeline(group string) (e2eTimeline, error) {
	incs, err := s.incidents("", group)
	if err != nil {
		return e2eTimeline{}, err
	}
	if len(incs) == 0 {
		return e2eTimeline{}, fmt.Errorf("no incident for group %s yet", group)
	}
	return s.timeline(incs[0].ID)
}

// waitTimeline polls the group's newest timeline until check accepts it.
func (s *e2eService) waitTimeline(t *testing.T, group, what string, check func(e2eTimeline) error) e2eTimeline {
	t.Helper()
	var tl e2eTimeline
	e2eEventually(t, 30*time.Second, what, func() error {
		var err error
		if tl, err = s.latestTimeline(group); err != nil {
			return err
		}
		return check(tl)
	})
	return tl
}

// metric sums the samples of a counter or gauge whose labels include want, from GET /metrics.
func (s *e2eService) metric(name string, want map[string]string) (float64, error) {
	code, body, err := s.get("/metrics")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %d", code)
	}
	return e2eSumSamples(body, name, want)
}

// mustMetric is metric for a test that cannot go on without it.
func (s *e2eService) mustMetric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	v, err := s.metric(name, want)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var e2eLabelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// e2eSumSamples reads Prometheus' text format: `name{a="x",b="y"} value`.
func e2eSumSamples(body []byte, name string, want map[string]string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			series, value, ok = line[:i+1], strings.TrimSpace(line[i+1:]), true
		}
		metric, labelText, _ := strings.Cut(series, "{")
		if !ok || metric != name {
			continue
		}
		labels := map[string]string{}
		for _, m := range e2eLabelPair.FindAllStringSubmatch(labelText, -1) {
			labels[m[1]] = m[2]
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			return 0, fmt.Errorf("metric line %q has no value", line)
		}
		f, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum, sc.Err()
}

// Metric names and label sets the tests read.
const (
	e2eWebhooks   = "postmortemd_webhooks_received_total"
	e2eDuplicates = "postmortemd_duplicates_dropped_total"
)

func e2eOutcome(outcome string) map[string]string {
	return map[string]string{"source": "alertmanager", "outcome": outcome}
}

var e2eFromAlertmanager = map[string]string{"source": "alertmanager"}

// e2eGroup is the groupKey Alertmanager gives a group of one alertname under a root route with one
// receiver (see testenv.AlertmanagerConfig.Receivers).
func e2eGroup(alertname string) string { return `{}:{alertname="` + alertname + `"}` }

// e2eAlert is an alert with the label shape the fact strings below assume.
func e2eAlert(name, instance, severity, summary string, startsAt time.Time) testenv.Alert {
	return testenv.Alert{
		Labels: map[string]string{"alertname": name, "service": "checkout", "instance": instance,
			"severity": severity},
		Annotations:  map[string]string{"summary": summary},
		StartsAt:     startsAt.UTC(),
		GeneratorURL: "http://127.0.0.1:9090/graph?g0.expr=up",
	}
}

// e2eResolve is a's resolution as Prometheus sends it: the same alert with endsAt set.
func e2eResolve(a testenv.Alert, endsAt time.Time) testenv.Alert {
	a.EndsAt = endsAt.UTC()
	return a
}

// The facts postmortemd should write, spelt out: they are what a reader of the timeline sees.
func e2eFiringFact(a testenv.Alert) string {
	return fmt.Sprintf("Alert %s started firing for service=checkout, instance=%s (severity %s): %s",
		a.Labels["alertname"], a.Labels["instance"], a.Labels["severity"], a.Annotations["summary"])
}

func e2eResolvedFact(a testenv.Alert) string {
	return fmt.Sprintf("Alert %s resolved for service=checkout, instance=%s (severity %s)",
		a.Labels["alertname"], a.Labels["instance"], a.Labels["severity"])
}

// e2ePost posts alerts to every Alertmanager given, as Prometheus does with an HA pair.
func e2ePost(t *testing.T, ams []*testenv.Alertmanager, alerts ...testenv.Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, am := range ams {
		if err := am.PostAlerts(ctx, alerts...); err != nil {
			t.Fatal(err)
		}
	}
}

// e2eFacts counts the events of each type and fact. It also reports the first event that breaks
// what every Alertmanager event must be (a fact from the Alertmanager role, with a unique id).
func e2eFacts(tl e2eTimeline, role string) (map[string]int, error) {
	counts := map[string]int{}
	ids := map[string]bool{}
	for _, e := range tl.Events {
		if ids[e.ID] {
			return nil, fmt.Errorf("event id %s appears twice on %s", e.ID, tl.Incident.ID)
		}
		ids[e.ID] = true
		if e.ID == "" || e.Source != "alertmanager" || e.Kind != "fact" || e.Role != role ||
			e.At.IsZero() || e.RecordedAt.IsZero() || e.Fact == "" {
			return nil, fmt.Errorf("event %+v: want an id, source alertmanager, kind fact, role %q, at, recorded_at and a fact", e, role)
		}
		counts[e.Type+": "+e.Fact]++
	}
	return counts, nil
}

// e2eWantFacts checks that no fact appears twice on the timeline, that each wanted one is there,
// and (with exact) that nothing else is.
func e2eWantFacts(tl e2eTimeline, role string, exact bool, want ...string) error {
	counts, err := e2eFacts(tl, role)
	if err != nil {
		return err
	}
	for fact, n := range counts {
		if n > 1 {
			return fmt.Errorf("%q appears %d times on %s", fact, n, tl.Incident.ID)
		}
	}
	for _, w := range want {
		if counts[w] != 1 {
			return fmt.Errorf("%q appears %d times on %s, want once (%d events)", w, counts[w], tl.Incident.ID, len(tl.Events))
		}
	}
	if exact && len(tl.Events) != len(want) {
		return fmt.Errorf("%s has %d events, want %d", tl.Incident.ID, len(tl.Events), len(want))
	}
	return nil
}

func e2eFiring(a testenv.Alert) string   { return "alert_firing: " + e2eFiringFact(a) }
func e2eResolved(a testenv.Alert) string { return "alert_resolved: " + e2eResolvedFact(a) }

// e2eEventOf returns the timeline's event with the type and fact.
func e2eEventOf(tl e2eTimeline, typeAndFact string) (e2eEvent, bool) {
	for _, e := range tl.Events {
		if e.Type+": "+e.Fact == typeAndFact {
			return e, true
		}
	}
	return e2eEvent{}, false
}

// An Alertmanager group, from its first alert to its resolution and a later re-fire, as an operator
// sees it: one incident whose facts each appear once although Alertmanager sends the whole group on
// every change, and a new incident when the same alert fires again.
func TestE2E_AlertmanagerGroupBecomesOneIncidentPerEpisode(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	svc := startE2EService(t, rds.URL())
	// A dotted receiver name: Alertmanager sends it regexp-quoted ("sre\.postmortemd").
	am := testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{
		Receivers: []testenv.WebhookReceiver{{Name: "sre.postmortemd", URL: svc.webhook(), SendResolved: true}},
		GroupWait: time.Second, GroupInterval: time.Second,
	})
	ams := []*testenv.Alertmanager{am}
	const name, role = "E2ELatency", "Alertmanager (receiver sre.postmortemd)"
	group := e2eGroup(name)
	t.Logf("Alertmanager %s at %s, postmortemd at %s", am.Version(), am.URL(), svc.URL)

	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	inst1 := e2eAlert(name, "inst-1", "critical", "p99 latency above 2s", start)
	inst2 := e2eAlert(name, "inst-2", "critical", "p99 latency above 2s", start.Add(time.Second))
	var first e2eTimeline

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"the first alert opens an incident", func(t *testing.T) {
			e2ePost(t, ams, inst1)
			tl := svc.waitTimeline(t, group, "first firing fact", func(tl e2eTimeline) error {
				return e2eWantFacts(tl, role, true, e2eFiring(inst1))
			})
			inc := tl.Incident
			if inc.Status != "open" || inc.Severity != "critical" || inc.Title != name+": p99 latency above 2s" ||
				!slices.Equal(inc.Services, []string{"checkout"}) || !inc.StartedAt.Equal(start) ||
				inc.Sources["alertmanager.receiver"] != "sre.postmortemd" || inc.Sources["alertmanager.external_url"] != am.URL() {
				t.Errorf("incident = %+v", inc)
			}
			if e, _ := e2eEventOf(tl, e2eFiring(inst1)); !e.At.Equal(start) {
				t.Errorf("firing fact at %v, want the alert's startsAt %v", e.At, start)
			}
		}},
		{"a second alert of the group joins it", func(t *testing.T) {
			e2ePost(t, ams, inst2)
			first = svc.waitTimeline(t, group, "both firing facts", func(tl e2eTimeline) error {
				return e2eWantFacts(tl, role, true, e2eFiring(inst1), e2eFiring(inst2))
			})
		}},
		{"a partial recovery is a fact and the incident stays open", func(t *testing.T) {
			end1 := time.Now().Truncate(time.Millisecond)
			e2ePost(t, ams, e2eResolve(inst1, end1))
			tl := svc.waitTimeline(t, group, "inst-1 resolved", func(tl e2eTimeline) error {
				return e2eWantFacts(tl, role, true, e2eFiring(inst1), e2eFiring(inst2), e2eResolved(inst1))
			})
			if tl.Incident.ID != first.Incident.ID || tl.Incident.Status != "open" || tl.Incident.ResolvedAt != nil {
				t.Errorf("after a partial recovery the incident is %+v, want %s still open", tl.Incident, first.Incident.ID)
			}
			if e, _ := e2eEventOf(tl, e2eResolved(inst1)); !e.At.Equal(end1) {
				t.Errorf("resolved fact at %v, want the alert's endsAt %v", e.At, end1)
			}
		}},
		{"the last recovery resolves the incident", func(t *testing.T) {
			end2 := time.Now().Truncate(time.Millisecond)
			e2ePost(t, ams, e2eResolve(inst2, end2))
			tl := svc.waitTimeline(t, group, "incident resolved", func(tl e2eTimeline) error {
				if tl.Incident.Status != "resolved" {
					return fmt.Errorf("incident %s is %s", tl.Incident.ID, tl.Incident.Status)
				}
				return nil
			})
			var types []string
			for _, e := range tl.Events {
				types = append(types, e.Type)
			}
			want := []string{"alert_firing", "alert_firing", "alert_resolved", "alert_resolved", "incident_resolved"}
			if !slices.Equal(types, want) {
				t.Errorf("event types in time order = %v, want %v", types, want)
			}
			if err := e2eWantFacts(tl, role, false, e2eFiring(inst1), e2eFiring(inst2), e2eResolved(inst1), e2eResolved(inst2)); err != nil {
				t.Error(err)
			}
			last := tl.Events[len(tl.Events)-1]
			if !strings.HasPrefix(last.Fact, "Alertmanager reported every alert of the group resolved (") || !last.At.Equal(end2) {
				t.Errorf("last event = %+v, want incident_resolved at %v", last, end2)
			}
			inc := tl.Incident
			if inc.ID != first.Incident.ID || inc.ResolvedAt == nil || !inc.ResolvedAt.Equal(end2) || inc.EventCount != 5 {
				t.Errorf("resolved incident = %+v, want %s resolved at %v with 5 events", inc, first.Incident.ID, end2)
			}
			t.Logf("resolution fact: %s", last.Fact)
		}},
		{"Alertmanager re-sent the group and postmortemd dropped the repeats", func(t *testing.T) {
			stored := svc.mustMetric(t, e2eWebhooks, e2eOutcome("stored"))
			dups := svc.mustMetric(t, e2eDuplicates, e2eFromAlertmanager)
			// inst-1's firing came again with inst-2's, and inst-2's with inst-1's recovery.
			if stored < 4 || dups < 2 {
				t.Errorf("deliveries stored = %v, events dropped as duplicates = %v; want >= 4 and >= 2", stored, dups)
			}
			t.Logf("deliveries stored: %v, duplicate events dropped: %v", stored, dups)
		}},
		{"the same alert firing again opens a new incident", func(t *testing.T) {
			again := e2eAlert(name, "inst-1", "critical", "p99 latency above 2s", time.Now().Truncate(time.Millisecond))
			e2ePost(t, ams, again)
			tl := svc.waitTimeline(t, group, "a second incident", func(tl e2eTimeline) error {
				if tl.Incident.ID == first.Incident.ID {
					return errors.New("still only the first incident")
				}
				return e2eWantFacts(tl, role, true, e2eFiring(again))
			})
			if e, _ := e2eEventOf(tl, e2eFiring(again)); tl.Incident.Status != "open" || !e.At.Equal(again.StartsAt) {
				t.Errorf("second incident = %+v, firing at %v; want open, at %v", tl.Incident, e.At, again.StartsAt)
			}
			old, err := svc.timeline(first.Incident.ID)
			if err != nil {
				t.Fatal(err)
			}
			if old.Incident.Status != "resolved" || len(old.Events) != 5 {
				t.Errorf("first incident is now %s with %d events, want resolved with 5", old.Incident.Status, len(old.Events))
			}
			open, err := svc.incidents("open", group)
			if err != nil {
				t.Fatal(err)
			}
			resolved, err := svc.incidents("resolved", group)
			if err != nil {
				t.Fatal(err)
			}
			if len(open) != 1 || open[0].ID != tl.Incident.ID || len(resolved) != 1 || resolved[0].ID != first.Incident.ID {
				t.Errorf("?status=open lists %v, ?status=resolved lists %v; want [%s] and [%s]",
					e2eIDs(open), e2eIDs(resolved), tl.Incident.ID, first.Incident.ID)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow()
		}
	}
}

func e2eIDs(incs []e2eIncident) []string {
	ids := make([]string, len(incs))
	for i, inc := range incs {
		ids[i] = inc.ID
	}
	return ids
}

// Two clustered Alertmanagers, each sent every alert (as Prometheus does), may both notify: the
// second peer waits only --cluster.peer-timeout for the first one's notification log, and notifies
// itself if the entry has not arrived by gossip. The peer timeout here is far shorter than one
// gossip interval (50ms), so the second peer almost always delivers too; but whether it does is up
// to scheduling, so the metrics only report it, and what must hold either way is checked: one
// incident, opened and resolved once, with every fact once.
func TestE2E_HighAvailabilityPairStoresEachFactOnce(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	svc := startE2EService(t, rds.URL())
	ams := testenv.StartAlertmanagerCluster(t, testenv.AlertmanagerConfig{
		Receivers: []testenv.WebhookReceiver{{Name: "postmortemd", URL: svc.webhook(), SendResolved: true}},
		GroupWait: time.Second, GroupInterval: time.Second, PeerTimeout: 5 * time.Millisecond,
	}, 2)
	const name, role = "E2EReplicated", "Alertmanager (receiver postmortemd)"
	group := e2eGroup(name)

	// Starting now, not in the past, so that group_wait holds the first notification until both
	// alerts are in it, on both peers.
	start := time.Now().Truncate(time.Millisecond)
	a := e2eAlert(name, "db-1", "page", "replication lag above 30s", start)
	b := e2eAlert(name, "db-2", "page", "replication lag above 30s", start)
	e2ePost(t, ams, a, b)
	tl := svc.waitTimeline(t, group, "both firing facts", func(tl e2eTimeline) error {
		return e2eWantFacts(tl, role, true, e2eFiring(a), e2eFiring(b))
	})
	firstID := tl.Incident.ID
	// Give the second peer the time it would take to deliver (it waits one peer timeout).
	deliveries := func() float64 {
		return svc.mustMetric(t, e2eWebhooks, e2eOutcome("stored")) + svc.mustMetric(t, e2eWebhooks, e2eOutcome("duplicate"))
	}
	e2eSettle(2*time.Second, func() bool { return deliveries() >= 2 })
	firingDeliveries := deliveries()

	end := time.Now().Truncate(time.Millisecond)
	e2ePost(t, ams, e2eResolve(a, end), e2eResolve(b, end))
	tl = svc.waitTimeline(t, group, "incident resolved", func(tl e2eTimeline) error {
		if tl.Incident.Status != "resolved" {
			return fmt.Errorf("incident %s is %s", tl.Incident.ID, tl.Incident.Status)
		}
		return nil
	})
	e2eSettle(2*time.Second, func() bool { return deliveries() >= firingDeliveries+2 })

	if err := e2eWantFacts(tl, role, false, e2eFiring(a), e2eFiring(b), e2eResolved(a), e2eResolved(b)); err != nil {
		t.Error(err)
	}
	if counts, _ := e2eFacts(tl, role); len(tl.Events) != 5 {
		t.Errorf("timeline has %d events, want 5 (2 firing, 2 resolved, 1 incident_resolved): %v", len(tl.Events), counts)
	}
	incs, err := svc.incidents("", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || incs[0].ID != firstID || incs[0].Status != "resolved" {
		t.Errorf("incidents = %+v, want only %s, resolved", incs, firstID)
	}

	if opened, resolved := svc.mustMetric(t, "postmortemd_incidents_opened_total", e2eFromAlertmanager),
		svc.mustMetric(t, "postmortemd_incidents_resolved_total", e2eFromAlertmanager); opened != 1 || resolved != 1 {
		t.Errorf("incidents opened %v times and resolved %v times, want once each", opened, resolved)
	}
	stored := svc.mustMetric(t, e2eWebhooks, e2eOutcome("stored"))
	dupDeliveries := svc.mustMetric(t, e2eWebhooks, e2eOutcome("duplicate"))
	dupEvents := svc.mustMetric(t, e2eDuplicates, e2eFromAlertmanager)
	t.Logf("deliveries: %v stored, %v duplicate (%v events dropped); the firing notification came %v times",
		stored, dupDeliveries, dupEvents, firingDeliveries)
	if dupDeliveries == 0 {
		t.Log("only one peer delivered each notification this time: nothing to deduplicate across peers")
	} else if dupEvents < dupDeliveries {
		t.Errorf("%v deliveries were duplicates but only %v events were dropped as such", dupDeliveries, dupEvents)
	}
}

// e2eSettle waits up to d for done, for counts that may or may not still grow; it never fails.
func e2eSettle(d time.Duration, done func() bool) {
	deadline := time.Now().Add(d)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// e2eStorm is n alerts of one group, instances node-00, node-01, ...
func e2eStorm(name string, from, to int, startsAt time.Time) []testenv.Alert {
	var as []testenv.Alert
	for i := from; i < to; i++ {
		as = append(as, e2eAlert(name, fmt.Sprintf("node-%02d", i), "warning", "disk almost full", startsAt))
	}
	return as
}

// e2eOutage is a storm of alerts through an outage of Redis.
type e2eOutage struct {
	svc         *e2eService
	group, role string
	// before is the storm's incident before the outage, with its 50 firing facts.
	before e2eTimeline
	// storm fired before the outage; more fired and resolved (storm[:5]) came during it.
	storm, more, resolved []testenv.Alert
}

// e2eStormThroughOutage fires 50 alerts of one group through Alertmanager and waits for their facts;
// takes Redis out with out; fires 10 more and resolves 5 while it is out, so that Alertmanager tries
// to deliver a notification with all of them; checks that postmortemd answered 503 and says it is
// not ready; and brings Redis back with back.
func e2eStormThroughOutage(t *testing.T, rds *testenv.Redis, name string, out, back func()) e2eOutage {
	t.Helper()
	o := e2eOutage{role: "Alertmanager (receiver postmortemd)", group: e2eGroup(name)}
	// --store-timeout 1s: a hung Redis should get 503s quickly, well inside Alertmanager's 10s flush
	// (but see TestE2E_HungRedisGets503WithinStoreTimeout).
	o.svc = startE2EService(t, rds.URL(), "--store-timeout", "1s")
	ams := []*testenv.Alertmanager{testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{
		Receivers: []testenv.WebhookReceiver{{Name: "postmortemd", URL: o.svc.webhook(), SendResolved: true}},
		GroupWait: time.Second, GroupInterval: time.Second,
	})}

	o.storm = e2eStorm(name, 0, 50, time.Now().Add(-time.Minute).Truncate(time.Millisecond))
	e2ePost(t, ams, o.storm...)
	o.before = o.svc.waitTimeline(t, o.group, "the storm's firing facts", func(tl e2eTimeline) error {
		return e2eWantFacts(tl, o.role, true, e2eFiringFacts(o.storm)...)
	})

	out()
	outAt := time.Now()
	o.more = e2eStorm(name, 50, 60, time.Now().Truncate(time.Millisecond))
	end := time.Now().Truncate(time.Millisecond)
	for _, a := range o.storm[:5] {
		o.resolved = append(o.resolved, e2eResolve(a, end))
	}
	e2ePost(t, ams, append(slices.Clone(o.more), o.resolved...)...)
	// A delivery and at least one retry of it answered 503.
	e2eEventually(t, 30*time.Second, "webhooks answered 503 while Redis is out", func() error {
		n, err := o.svc.metric(e2eWebhooks, e2eOutcome("unavailable"))
		if err == nil && n < 2 {
			err = fmt.Errorf("%s{outcome=\"unavailable\"} = %v", e2eWebhooks, n)
		}
		return err
	})
	if code, body, err := o.svc.get("/-/ready"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("GET /-/ready while Redis is out = %d %s %v, want 503", code, body, err)
	}
	back()
	t.Logf("Redis back after %v out; Alertmanager's deliveries answered 503 so far: %v",
		time.Since(outAt).Round(time.Millisecond), o.svc.mustMetric(t, e2eWebhooks, e2eOutcome("unavailable")))
	return o
}

func e2eFiringFacts(alerts []testenv.Alert) []string {
	var facts []string
	for _, a := range alerts {
		facts = append(facts, e2eFiring(a))
	}
	return facts
}

func e2eResolvedFacts(alerts []testenv.Alert) []string {
	var facts []string
	for _, a := range alerts {
		facts = append(facts, e2eResolved(a))
	}
	return facts
}

// The Redis process is stopped mid-storm and started again. testenv's Redis keeps no data across a
// restart (--save ""), so the restarted server is empty and the incident recorded before the outage
// is gone: what this test can and does check is that nothing Alertmanager tried to deliver during
// the outage is lost. Postmortemd answers 503 while Redis is down, Alertmanager keeps the
// notification and retries it, and once Redis is back the group's (new) incident holds every fact
// of that notification, each once. The hang test below checks the same with the data kept.
func TestE2E_RedisRestartMidStormLosesNoRetriedDelivery(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	rds.RequireOwn()
	o := e2eStormThroughOutage(t, rds, "E2EStorm", rds.Stop, rds.Start)

	// The retried notification is the whole group: 55 alerts firing, 5 resolved. Into the empty
	// Redis, each is news. Had Alertmanager built the notification while our post was still being
	// inserted (its group timer does not wait for a whole API call), the five resolved alerts may
	// first arrive firing; such extra firing facts are the only other events allowed.
	want := append(e2eFiringFacts(append(slices.Clone(o.storm[5:]), o.more...)), e2eResolvedFacts(o.resolved)...)
	allowed := map[string]bool{}
	for _, f := range append(e2eFiringFacts(o.storm[:5]), want...) {
		allowed[f] = true
	}
	tl := o.svc.waitTimeline(t, o.group, "the retried notification's facts", func(tl e2eTimeline) error {
		if err := e2eWantFacts(tl, o.role, false, want...); err != nil {
			return err
		}
		for _, e := range tl.Events {
			if !allowed[e.Type+": "+e.Fact] {
				return fmt.Errorf("unexpected event %q on %s", e.Type+": "+e.Fact, tl.Incident.ID)
			}
		}
		return nil
	})
	t.Logf("the group's incident after the restart has %d events (%d expected from the retried notification)",
		len(tl.Events), len(want))
	if tl.Incident.Status != "open" {
		t.Errorf("incident %s is %s, want open: 55 alerts still fire", tl.Incident.ID, tl.Incident.Status)
	}
	if code, _, err := o.svc.get("/api/v1/incidents/" + o.before.Incident.ID); err != nil || code != http.StatusNotFound {
		t.Errorf("GET the pre-outage incident = %d %v, want 404: the restarted Redis has no data", code, err)
	}
	e2eWantReady(t, o.svc)
}

// The Redis process hangs mid-storm (SIGSTOP: the kernel still accepts connections, nothing
// answers) and later continues with its data. This is the outage that keeps data, so it checks
// what the restart test cannot: the facts sent during the outage join the incident that was
// already open, each once, although requests that postmortemd gave up on (503) may still run in
// Redis when it wakes up.
func TestE2E_RedisHangMidStormKeepsOneIncident(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	rds.RequireOwn()
	hang, wake := e2eHangable(t, rds)
	o := e2eStormThroughOutage(t, rds, "E2EStormHang", hang, wake)

	want := append(e2eFiringFacts(append(slices.Clone(o.storm), o.more...)), e2eResolvedFacts(o.resolved)...)
	tl := o.svc.waitTimeline(t, o.group, "the outage's facts on the open incident", func(tl e2eTimeline) error {
		return e2eWantFacts(tl, o.role, true, want...)
	})
	incs, err := o.svc.incidents("", "")
	if err != nil {
		t.Fatal(err)
	}
	if tl.Incident.ID != o.before.Incident.ID || tl.Incident.Status != "open" || len(incs) != 1 {
		t.Errorf("after the hang: incident %s (%s), %d incidents in all; want only %s, open",
			tl.Incident.ID, tl.Incident.Status, len(incs), o.before.Incident.ID)
	}
	e2eWantReady(t, o.svc)
	t.Logf("after Redis woke: %v deliveries stored, %v were duplicates",
		o.svc.mustMetric(t, e2eWebhooks, e2eOutcome("stored")), o.svc.mustMetric(t, e2eWebhooks, e2eOutcome("duplicate")))
}

// A webhook waits for a hung Redis no longer than --store-timeout before answering 503, as
// --help promises, and /-/ready no longer than its own 2s: Alertmanager gets its answer in time to
// retry within its flush, and a readiness probe before its own timeout.
func TestE2E_HungRedisGets503WithinStoreTimeout(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	rds.RequireOwn()
	hang, _ := e2eHangable(t, rds)
	svc := startE2EService(t, rds.URL(), "--store-timeout", "500ms")
	hang()
	// Redis never answers while it is stopped, so a 503 can only come from the store timeout: the
	// outcome proves the bound, without a wall-clock assertion that a loaded machine could break.
	// (The client's own timeout only keeps a broken build from hanging the test.)
	for _, c := range []struct {
		name, path, body string
	}{
		{"webhook", "/webhook/alertmanager", e2ePayload("E2EHung")},
		{"readiness", "/-/ready", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, svc.URL+c.path, nil)
		if c.body != "" {
			req, _ = http.NewRequest(http.MethodPost, svc.URL+c.path, strings.NewReader(c.body))
		}
		t0 := time.Now()
		resp, err := svc.client.Do(req)
		took := time.Since(t0)
		if err != nil {
			t.Errorf("%s: %v after %v", c.name, err, took)
			continue
		}
		resp.Body.Close()
		t.Logf("%s %s while Redis hangs: %d after %v", req.Method, c.path, resp.StatusCode, took.Round(time.Millisecond))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s while Redis hangs = %d (Retry-After %q) after %v, want 503 with Retry-After",
				req.Method, c.path, resp.StatusCode, resp.Header.Get("Retry-After"), took.Round(time.Millisecond))
		}
	}
}

// e2ePayload is the smallest Alertmanager webhook payload: one alert firing.
func e2ePayload(alertname string) string {
	return `{"version":"4","groupKey":"{}:{alertname=\"` + alertname + `\"}","status":"firing","receiver":"postmortemd",
		"alerts":[{"status":"firing","labels":{"alertname":"` + alertname + `"},"startsAt":"2026-11-22T10:00:00Z","fingerprint":"0123456789abcdef"}],
		"groupLabels":{"alertname":"` + alertname + `"},"commonLabels":{"alertname":"` + alertname + `"}}`
}

// e2eHangable returns functions that freeze the test's redis-server (SIGSTOP: the kernel still
// accepts connections, nothing answers) and let it continue; a cleanup lets it continue in any case.
func e2eHangable(t *testing.T, rds *testenv.Redis) (hang, wake func()) {
	t.Helper()
	p := e2eRedisProcess(t, rds)
	var mu sync.Mutex
	stopped := false
	hang = func() {
		mu.Lock()
		defer mu.Unlock()
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP redis-server: %v", err)
		}
		stopped = true
	}
	wake = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			stopped = false
			if err := p.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT redis-server: %v", err)
			}
		}
	}
	t.Cleanup(wake)
	return hang, wake
}

func e2eWantReady(t *testing.T, svc *e2eService) {
	t.Helper()
	if code, body, err := svc.get("/-/ready"); err != nil || code != http.StatusOK {
		t.Errorf("GET /-/ready after Redis is back = %d %s %v, want 200", code, body, err)
	}
}

// e2eRedisProcess finds the redis-server process this test started, from the pid Redis reports in
// INFO; testenv does not expose it. The process must be a child of this test binary, so a Redis
// that is not ours is never signalled.
func e2eRedisProcess(t *testing.T, rds *testenv.Redis) *os.Process {
	t.Helper()
	conn, err := net.DialTimeout("tcp", rds.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("INFO server\r\n")); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(conn)
	for pid == 0 && sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("INFO server on %s: no process_id (%v)", rds.Addr(), sc.Err())
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^PPid:\s+` + strconv.Itoa(os.Getpid()) + `$`).Match(status) {
		t.Fatalf("redis-server pid %d is not a child of this test; not signalling it", pid)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Deliveries must carry the configured bearer token: an Alertmanager with the right one is
// recorded, one with a wrong one is turned away with 401 and nothing of it is stored.
func TestE2E_BearerTokenGuardsTheWebhook(t *testing.T) {
	e2eTest(t)
	rds := testenv.StartRedis(t)
	svc := startE2EService(t, rds.URL(), "--alertmanager-bearer-token", "e2e-s3cret")
	good := testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{
		Receivers: []testenv.WebhookReceiver{{Name: "postmortemd", URL: svc.webhook(), SendResolved: true,
			BearerToken: "e2e-s3cret"}},
		GroupWait: time.Second, GroupInterval: time.Second,
	})
	bad := testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{
		Receivers: []testenv.WebhookReceiver{{Name: "postmortemd", URL: svc.webhook(), SendResolved: true,
			BearerToken: "not-the-token"}},
		GroupWait: time.Second, GroupInterval: time.Second,
	})
	const role = "Alertmanager (receiver postmortemd)"
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	allowed := e2eAlert("E2EAuthorized", "web-1", "warning", "error rate above 1%", start)
	rejected := e2eAlert("E2EIntruder", "web-1", "warning", "error rate above 1%", start)
	e2ePost(t, []*testenv.Alertmanager{bad}, rejected)
	e2ePost(t, []*testenv.Alertmanager{good}, allowed)

	svc.waitTimeline(t, e2eGroup("E2EAuthorized"), "the authorized delivery", func(tl e2eTimeline) error {
		return e2eWantFacts(tl, role, true, e2eFiring(allowed))
	})
	e2eEventually(t, 30*time.Second, "the wrong token's deliveries refused", func() error {
		n, err := svc.metric(e2eWebhooks, e2eOutcome("unauthorized"))
		if err == nil && n < 2 {
			err = fmt.Errorf("%s{outcome=\"unauthorized\"} = %v", e2eWebhooks, n)
		}
		return err
	})
	incs, err := svc.incidents("", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || incs[0].Sources["alertmanager.group_key"] != e2eGroup("E2EAuthorized") {
		t.Errorf("incidents = %+v, want only the authorized group's", incs)
	}
	if !strings.Contains(svc.log.String(), "webhook rejected: bad or missing credentials") {
		t.Error("postmortemd did not log the rejected deliveries")
	}
	if strings.Contains(svc.log.String(), "e2e-s3cret") || strings.Contains(svc.log.String(), "not-the-token") {
		t.Error("postmortemd logged a bearer token")
	}

	// And without any credentials at all, a caller is told how to authenticate.
	resp, err := svc.client.Post(svc.webhook(), "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("unauthenticated POST = %d, WWW-Authenticate %q; want 401 naming Bearer",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// The command line as an operator meets it: --help names every setting with its environment
// variable, --version prints the linked version, a bad setting stops start-up with a message that
// names it, and no Redis at all means the embedded store, announced loudly.
func TestE2E_CommandLine(t *testing.T) {
	e2eTest(t)
	bin := e2eBinary(t)
	run := func(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		// A race-enabled binary sleeps 1s on a normal exit unless told otherwise.
		cmd.Env = e2eEnv(append(env, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("postmortemd %q: %v", args, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("postmortemd %q did not exit within 20s; it should not start serving:\n%s", args, errOut.String())
		}
		return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
	}

	t.Run("help lists every flag with its environment variable", func(t *testing.T) {
		for _, flag := range []string{"--help", "-h"} {
			code, out, _ := run(t, []string{"POSTMORTEMD_ALERTMANAGER_BEARER_TOKEN=e2e-s3cret"}, flag)
			if code != 0 {
				t.Errorf("%s exited %d, want 0", flag, code)
			}
			want := [][2]string{{"--config", "POSTMORTEMD_CONFIG"}}
			for _, s := range settings {
				want = append(want, [2]string{"--" + s.name, s.env()})
			}
			for _, w := range want {
				if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(w[0]) + `( .*)?\n.*\(env ` + w[1] + `\)$`).MatchString(out) {
					t.Errorf("%s does not list %s with (env %s):\n%s", flag, w[0], w[1], out)
				}
			}
			for _, w := range []string{"--version", "--help"} {
				if !strings.Contains(out, "  "+w+"\n") {
					t.Errorf("%s does not list %s", flag, w)
				}
			}
			if strings.Contains(out, "e2e-s3cret") {
				t.Errorf("%s shows a secret from the environment", flag)
			}
		}
	})

	t.Run("version prints the linked version", func(t *testing.T) {
		code, out, _ := run(t, nil, "--version")
		if code != 0 || out != "postmortemd "+e2eVersion+"\n" {
			t.Errorf("--version = %d %q, want 0 %q", code, out, "postmortemd "+e2eVersion+"\n")
		}
	})

	t.Run("a bad setting stops start-up and is named", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  []string
			args []string
			want []string
		}{
			{"log level", nil, []string{"--log-level", "loud"}, []string{"log-level", `"loud"`}},
			{"body size from the environment", []string{"POSTMORTEMD_MAX_BODY_SIZE=huge"}, nil,
				[]string{"POSTMORTEMD_MAX_BODY_SIZE", `"huge"`}},
			{"duration", nil, []string{"--store-timeout", "soon"}, []string{"--store-timeout", `"soon"`}},
			{"duration from the environment", []string{"POSTMORTEMD_SHUTDOWN_TIMEOUT=0s"}, nil,
				[]string{"shutdown-timeout"}},
			{"redis url", nil, []string{"--redis-url", "http://127.0.0.1:1"}, []string{"redis-url"}},
			{"listen address", nil, []string{"--listen", "nowhere"}, []string{"listen", `"nowhere"`}},
			{"half of basic auth", nil, []string{"--alertmanager-username", "am"}, []string{"alertmanager-username"}},
			{"missing secret file", nil, []string{"--alertmanager-bearer-token-file", filepath.Join(t.TempDir(), "absent")},
				[]string{"alertmanager-bearer-token-file"}},
			{"unknown flag", nil, []string{"--colour", "blue"}, []string{"colour"}},
			{"stray argument", nil, []string{"serve"}, []string{`"serve"`}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// Should a bad setting be accepted, the service listens on loopback only (the
				// last --listen wins).
				code, _, stderr := run(t, tc.env, append([]string{"--listen", "127.0.0.1:0"}, tc.args...)...)
				if code == 0 {
					t.Fatalf("exited 0, want a failure; stderr:\n%s", stderr)
				}
				if strings.Contains(stderr, "postmortemd listening") {
					t.Errorf("started serving despite the bad setting:\n%s", stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("stderr does not name %s:\n%s", w, stderr)
					}
				}
			})
		}
	})

	t.Run("without a Redis URL the embedded store is used and announced", func(t *testing.T) {
		svc := startE2EService(t, "")
		var warning string
		for _, line := range strings.Split(svc.log.String(), "\n") {
			if strings.Contains(line, "in-memory") {
				warning = line
			}
		}
		if !strings.Contains(warning, "level=WARN") || !strings.Contains(warning, "LOST") {
			t.Errorf("no loud warning that data lives in memory only; log:\n%s", svc.log)
		}
		if strings.Contains(svc.log.String(), "using redis") {
			t.Error("log claims a configured Redis")
		}
		// It is a working store: a delivery is recorded and read back.
		resp, err := svc.client.Post(svc.webhook(), "application/json", strings.NewReader(e2ePayload("E2EEmbedded")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("delivery to the embedded store = %d, want 200", resp.StatusCode)
		}
		tl, err := svc.latestTimeline(e2eGroup("E2EEmbedded"))
		if err != nil {
			t.Fatal(err)
		}
		if len(tl.Events) != 1 || tl.Events[0].Fact != "Alert E2EEmbedded started firing" {
			t.Errorf("timeline = %+v", tl)
		}
		e2eWantReady(t, svc)
	})
}
