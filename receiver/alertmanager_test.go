package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// Captured payloads from real Alertmanagers, one folder per version (see testdata/alertmanager/README.md).
func versions(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("testdata/alertmanager/v*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no captured payloads: %v", err)
	}
	return dirs
}

// eachVersion runs f for every captured Alertmanager version; dir ends with a slash.
func eachVersion(t *testing.T, f func(t *testing.T, dir string)) {
	for _, d := range versions(t) {
		t.Run(filepath.Base(d), func(t *testing.T) { f(t, d+"/") })
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestDecodeAcceptsEveryCapturedPayload(t *testing.T) {
	for _, dir := range versions(t) {
		files, _ := filepath.Glob(filepath.Join(dir, "[0-9]*.json"))
		for _, f := range files {
			t.Run(f, func(t *testing.T) {
				raw := mustRead(t, f)
				m, err := decodeAlertmanager(raw)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				// Our fallback fingerprint is Alertmanager's, for payloads that lack one.
				for i, a := range m.Alerts {
					if got := fingerprint(a.Labels); got != a.Fingerprint {
						t.Errorf("alerts[%d]: fingerprint(labels) = %s, Alertmanager says %s", i, got, a.Fingerprint)
					}
				}
			})
		}
	}
}

func TestDecodeRejectsMalformedPayloads(t *testing.T) {
	valid := string(mustRead(t, "testdata/alertmanager/v0.25.0/01-first-firing.json"))
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `{"version": "4",`, "not an Alertmanager webhook payload"},
		{"JSON of the wrong shape", `[1,2,3]`, "not an Alertmanager webhook payload"},
		{"wrong field type", strings.Replace(valid, `"truncatedAlerts":0`, `"truncatedAlerts":"zero"`, 1), `field "truncatedAlerts"`},
		{"another payload version", strings.Replace(valid, `"version":"4"`, `"version":"3"`, 1), `version: want "4"`},
		{"no version", strings.Replace(valid, `"version":"4"`, `"v":"4"`, 1), `version: want "4"`},
		{"no groupKey", strings.Replace(valid, `"groupKey"`, `"group"`, 1), "groupKey: missing"},
		{"unknown group status", strings.Replace(valid, `"receiver":"postmortemd","status":"firing"`, `"receiver":"postmortemd","status":"pending"`, 1), `status: want "firing" or "resolved", got "pending"`},
		{"no alerts", `{"version":"4","groupKey":"{}:{}","status":"firing","alerts":[]}`, "alerts: empty"},
		{"unknown alert status", strings.Replace(valid, `"alerts":[{"status":"firing"`, `"alerts":[{"status":"silenced"`, 1), `alerts[0].status`},
		{"alert without labels", `{"version":"4","groupKey":"{}:{}","status":"firing","alerts":[{"status":"firing","labels":{},"startsAt":"2026-11-22T10:05:01Z"}]}`, "alerts[0].labels: empty"},
		{"alert without startsAt", `{"version":"4","groupKey":"{}:{}","status":"firing","alerts":[{"status":"firing","labels":{"a":"b"}}]}`, "alerts[0].startsAt: missing"},
		{"bad time", strings.Replace(valid, `"endsAt":"0001-01-01T00:00:00Z"`, `"endsAt":"yesterday"`, 1), "not an Alertmanager webhook payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAlertmanager([]byte(tt.body))
			if !errors.Is(err, timeline.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// harness is a handler on an embedded Redis with the payloads' own clock.
type harness struct {
	t     *testing.T
	h     *Handler
	store *redisstore.Store
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := redisstore.New(rdb, redisstore.Options{})
	o.Store = s
	if o.Now == nil {
		o.Now = func() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }
	}
	return &harness{t: t, h: New(o), store: s}
}

// post delivers a body as Alertmanager would and returns the status the HTTP layer would answer
// (errors are mapped by internal/web; here only their kind matters).
func (hs *harness) post(body []byte, header http.Header) (deliveryResponse, error) {
	hs.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	err := hs.h.Alertmanager(echo.New().NewContext(req, rec))
	var resp deliveryResponse
	if err == nil {
		if rec.Code != http.StatusOK {
			hs.t.Fatalf("status %d", rec.Code)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			hs.t.Fatal(err)
		}
	}
	return resp, err
}

func (hs *harness) deliver(paths ...string) {
	hs.t.Helper()
	for _, p := range paths {
		if _, err := hs.post(mustRead(hs.t, p), nil); err != nil {
			hs.t.Fatalf("deliver %s: %v", p, err)
		}
	}
}

func (hs *harness) incidents() []timeline.Incident {
	hs.t.Helper()
	incs, err := hs.store.Incidents(context.Background(), timeline.ListOptions{})
	if err != nil {
		hs.t.Fatal(err)
	}
	return incs
}

func (hs *harness) events(id string) []timeline.Event {
	hs.t.Helper()
	es, err := hs.store.Entries(context.Background(), id)
	if err != nil {
		hs.t.Fatal(err)
	}
	timeline.SortEntries(es)
	out := make([]timeline.Event, len(es))
	for i, e := range es {
		if err := json.Unmarshal(e.JSON, &out[i]); err != nil {
			hs.t.Fatal(err)
		}
	}
	return out
}

func factsOf(evs []timeline.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Fact
	}
	return out
}

// A group's life as a real Alertmanager reported it, with every notification delivered twice (a
// retry or an HA peer): one incident per occurrence of the group, each fact once, in order.
func TestGroupLifecycleFromCapturedNotifications(t *testing.T) {
	for _, dir := range versions(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			hs := newHarness(t, Options{})
			p := func(name string) string { return filepath.Join(dir, name) }
			for _, name := range []string{"01-first-firing.json", "02-second-alert-joins.json",
				"03-partial-recovery.json", "04-all-resolved.json"} {
				hs.deliver(p(name), p(name))
			}
			// A late copy of the first firing notification must not reopen anything.
			hs.deliver(p("01-first-firing.json"))
			incs := hs.incidents()
			if len(incs) != 1 {
				t.Fatalf("%d incidents, want 1", len(incs))
			}
			inc := incs[0]
			if inc.Status != timeline.StatusResolved || inc.Title != "HighLatency: p99 latency above 2s" ||
				inc.Severity != "critical" || fmt.Sprint(inc.Services) != "[checkout]" ||
				inc.Sources[timeline.SourceKeyAlertmanagerGroupKey] != `{}:{alertname="HighLatency"}` ||
				inc.Sources[timeline.SourceKeyAlertmanagerReceiver] != "postmortemd" {
				t.Fatalf("incident %+v", inc)
			}
			evs := hs.events(inc.ID)
			want := []string{
				"Alert HighLatency started firing for service=checkout, instance=inst-1 (severity critical): p99 latency above 2s",
				"Alert HighLatency started firing for service=checkout, instance=inst-2 (severity critical): p99 latency above 2s",
				"Alert HighLatency resolved for service=checkout, instance=inst-1 (severity critical)",
				"Alert HighLatency resolved for service=checkout, instance=inst-2 (severity critical)",
				"Alertmanager reported every alert of the group resolved (1 alert)",
			}
			if got := factsOf(evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("facts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var last amMessage
			_ = json.Unmarshal(mustRead(t, p("04-all-resolved.json")), &last)
			if !inc.ResolvedAt.Equal(last.Alerts[0].EndsAt) {
				t.Fatalf("resolved_at %v, want the last alert's endsAt %v", inc.ResolvedAt, last.Alerts[0].EndsAt)
			}
			for _, e := range evs {
				if e.Kind != timeline.KindFact || e.Role != "Alertmanager (receiver postmortemd)" ||
					e.Source != timeline.SourceAlertmanager || e.ID == "" || e.RecordedAt.IsZero() {
					t.Fatalf("event %+v", e)
				}
			}
			// The same labels firing again after the group was deleted is a new occurrence.
			hs.deliver(p("05-refire-new-episode.json"), p("05-refire-new-episode.json"), p("05-refire-resolved.json"))
			incs = hs.incidents()
			if len(incs) != 2 || incs[0].ID == inc.ID || incs[0].Status != timeline.StatusResolved {
				t.Fatalf("after refiring: %+v", incs)
			}
			if n := len(hs.events(incs[0].ID)); n != 3 {
				t.Fatalf("second incident has %d events, want 3", n)
			}
		})
	}
}

func TestRepeatIntervalResendAddsNothing(t *testing.T) {
	eachVersion(t, func(t *testing.T, dir string) {
		hs := newHarness(t, Options{})
		first, _ := hs.post(mustRead(t, dir+"11-repeat-first.json"), nil)
		repeat, _ := hs.post(mustRead(t, dir+"11-repeat-interval-elapsed.json"), nil)
		if !first.Opened || repeat.Appended != 0 || repeat.Duplicates != 1 || repeat.IncidentID != first.IncidentID {
			t.Fatalf("first %+v, repeat %+v", first, repeat)
		}
	})
}

func TestHAPeersDeliveringTheSameNotificationsMakeOneTimeline(t *testing.T) {
	eachVersion(t, func(t *testing.T, dir string) {
		hs := newHarness(t, Options{})
		hs.deliver(dir+"13-ha-firing-peer-a.json", dir+"13-ha-firing-peer-b.json",
			dir+"13-ha-resolved-peer-b.json", dir+"13-ha-resolved-peer-a.json")
		incs := hs.incidents()
		if len(incs) != 1 || incs[0].Status != timeline.StatusResolved {
			t.Fatalf("incidents %+v, want one resolved", incs)
		}
		var firing amMessage
		_ = json.Unmarshal(mustRead(t, dir+"13-ha-firing-peer-a.json"), &firing)
		// each alert fires and resolves once, plus the group's resolution
		if n, want := len(hs.events(incs[0].ID)), 2*len(firing.Alerts)+1; n != want {
			t.Fatalf("%d events, want %d", n, want)
		}
	})
}

func TestStormOf200Alerts(t *testing.T) {
	eachVersion(t, func(t *testing.T, dir string) {
		hs := newHarness(t, Options{})
		r1, _ := hs.post(mustRead(t, dir+"10-storm-200-firing.json"), nil)
		r2, _ := hs.post(mustRead(t, dir+"10-storm-200-resolved.json"), nil)
		if r1.Appended != 200 || r2.Appended != 201 || !r2.Resolved {
			t.Fatalf("firing %+v, resolved %+v", r1, r2)
		}
	})
}

// With max_alerts, Alertmanager's status speaks only of the alerts it sent. Capture 15: 5 alerts
// fire, 3 are sent; those 3 resolve ("resolved" while 2 still fire); then the other 2 resolve.
func TestTruncatedGroupIsOneIncident(t *testing.T) {
	eachVersion(t, func(t *testing.T, dir string) {
		hs := newHarness(t, Options{})
		hs.deliver(dir+"15a-truncated-refire.json", dir+"15b-truncated-3-resolved-status-resolved-while-2-firing.json",
			dir+"15c-truncated-remaining-2-resolved.json", dir+"15c-truncated-remaining-2-resolved.json")
		incs := hs.incidents()
		if len(incs) != 1 || incs[0].Status != timeline.StatusResolved {
			t.Fatalf("incidents %+v, want one resolved", incs)
		}
		evs := hs.events(incs[0].ID)
		var truncated, firing, resolved int
		for _, e := range evs {
			switch e.Type {
			case timeline.TypeAlertsTruncated:
				truncated++
				if !strings.Contains(e.Fact, "left 2 alerts") {
					t.Errorf("truncation fact %q", e.Fact)
				}
			case timeline.TypeAlertFiring:
				firing++
			case timeline.TypeAlertResolved:
				resolved++
			}
		}
		if truncated != 1 || firing != 3 || resolved != 5 {
			t.Fatalf("truncated %d, firing %d, resolved %d facts; want 1, 3, 5:\n%s", truncated, firing, resolved,
				strings.Join(factsOf(evs), "\n"))
		}
		var rest amMessage
		_ = json.Unmarshal(mustRead(t, dir+"15c-truncated-remaining-2-resolved.json"), &rest)
		if !incs[0].ResolvedAt.Equal(rest.Alerts[0].EndsAt) {
			t.Fatalf("resolved_at %v, want the last resolution %v", incs[0].ResolvedAt, rest.Alerts[0].EndsAt)
		}
	})
}

// Capture 12: a sender re-posts a known alert as resolved without startsAt, and posts an unknown
// alert already resolved (Alertmanager then reports startsAt == endsAt).
func TestResolvedWithoutStartsAt(t *testing.T) {
	eachVersion(t, func(t *testing.T, dir string) {
		hs := newHarness(t, Options{})
		hs.deliver(dir+"12a-errorbudget-firing.json", dir+"12b-new-alert-resolved-without-startsAt.json",
			dir+"12b-new-alert-resolved-without-startsAt.json", dir+"12c-known-alert-resolved-without-startsAt.json")
		incs := hs.incidents()
		if len(incs) != 1 || incs[0].Status != timeline.StatusResolved {
			t.Fatalf("incidents %+v", incs)
		}
		if n := len(hs.events(incs[0].ID)); n != 4 {
			t.Fatalf("%d events, want 4 (firing, resolved new alert, resolved, group resolved):\n%s", n,
				strings.Join(factsOf(hs.events(incs[0].ID)), "\n"))
		}
	})
}

func TestRoleIsTheMonitoringSystemWithTheReceiverName(t *testing.T) {
	hs := newHarness(t, Options{})
	r, err := hs.post(mustRead(t, "testdata/alertmanager/v0.25.0/07-dotted-receiver-firing.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := hs.events(r.IncidentID)
	// Alertmanager sends the name through regexp.QuoteMeta ("team\\.dotted").
	if evs[0].Role != "Alertmanager (receiver team.dotted)" {
		t.Fatalf("role %q", evs[0].Role)
	}
	inc, _ := hs.store.Incident(context.Background(), r.IncidentID)
	if inc.Sources[timeline.SourceKeyAlertmanagerReceiver] != "team.dotted" {
		t.Fatalf("sources %v", inc.Sources)
	}
}

func TestAuthentication(t *testing.T) {
	dir := "testdata/alertmanager/v0.25.0/"
	bearer := mustRead(t, dir+"08-auth-bearer-firing.json")
	basic := mustRead(t, dir+"08-auth-basic-firing.json")
	hs := newHarness(t, Options{Alertmanager: Auth{BearerToken: "s3cret-token", Username: "am", Password: "pw"}})
	// The headers a real Alertmanager sent with http_config authorization and basic_auth.
	bearerHdr := capturedHeader(t, dir+"08-auth-bearer-firing.headers.txt", "Authorization")
	basicHdr := capturedHeader(t, dir+"08-auth-basic-firing.headers.txt", "Authorization")
	tests := []struct {
		name   string
		body   []byte
		auth   string
		wantOK bool
	}{
		{"captured bearer token", bearer, bearerHdr, true},
		{"captured basic auth", basic, basicHdr, true},
		{"no credentials", bearer, "", false},
		{"wrong token", bearer, "Bearer s3cret-tokem", false},
		{"token as basic password", bearer, "Basic YW06czNjcmV0LXRva2Vu", false},
		{"wrong scheme", bearer, "Token s3cret-token", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			_, err := hs.post(tt.body, h)
			var he *echo.HTTPError
			switch {
			case tt.wantOK && err != nil:
				t.Fatalf("rejected: %v", err)
			case !tt.wantOK && (!errors.As(err, &he) || he.Code != http.StatusUnauthorized):
				t.Fatalf("error %v, want 401", err)
			}
		})
	}
	if n := len(hs.incidents()); n != 1 {
		t.Fatalf("%d incidents, want 1 (the two receivers share the group)", n)
	}
}

func capturedHeader(t *testing.T, path, name string) string {
	t.Helper()
	for _, line := range strings.Split(string(mustRead(t, path)), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s has no %s header", path, name)
	return ""
}

func TestBodyLimit(t *testing.T) {
	hs := newHarness(t, Options{MaxBodyBytes: 64 << 10})
	storm := mustRead(t, "testdata/alertmanager/v0.25.0/10-storm-200-firing.json") // ≈120 KB
	_, err := hs.post(storm, nil)
	var he *echo.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("error %v, want 413", err)
	}
	if n := len(hs.incidents()); n != 0 {
		t.Fatalf("%d incidents stored from a rejected body", n)
	}
}

// A summary is read from as much of an annotation as it keeps: the same words as joining every
// field of it, however long the annotation.
func TestJoinFieldsKeepsWhatSummariesShow(t *testing.T) {
	for _, s := range []string{
		"", "   ", "one", " a  b\tc\n", strings.Repeat("word ", 200), strings.Repeat("x", 1000) + " tail",
		strings.Repeat("データ ", 150), "a" + strings.Repeat(" ", 500) + "b", strings.Repeat("é", 299) + " end",
		strings.Repeat("ab\u00a0cd\u2003", 100),
	} {
		want := truncate(strings.Join(strings.Fields(s), " "), 300)
		if got := truncate(joinFields(s, 300), 300); got != want {
			t.Errorf("joinFields(%.40q…) = %.60q…, want %.60q…", s, got, want)
		}
	}
}

// The attributes are written by hand, once, in a buffer of their size: the bytes must be
// json.Marshal's, for every captured payload and for text that needs escaping.
func TestAttributesEncodeAsEncodingJSON(t *testing.T) {
	var cases []amAttributes
	files, _ := filepath.Glob("testdata/alertmanager/*/*.json")
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeAlertmanager(body)
		if err != nil {
			continue // not a notification (configs, logs)
		}
		for _, a := range m.Alerts {
			end := a.EndsAt.UTC()
			cases = append(cases, amAttributes{Fingerprint: a.Fingerprint, Labels: a.Labels, Annotations: a.Annotations,
				StartsAt: a.StartsAt.UTC(), EndsAt: &end, GeneratorURL: a.GeneratorURL})
		}
	}
	odd := "<b>&\"\\ \x00\x01\x1f\b\f\n\r\t é 渡辺 \u2028\u2029 \xff\xfe 😀 \x7f"
	cases = append(cases, amAttributes{Fingerprint: odd, Labels: map[string]string{odd: odd, "a": ""},
		Annotations: map[string]string{}, StartsAt: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)},
		amAttributes{StartsAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))})
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	for i, a := range cases {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.appendJSON(nil)
		if err != nil || string(got) != string(want) {
			t.Fatalf("case %d:\n got %s %v\nwant %s", i, got, err, want)
		}
	}
}

// The fact of an alert with very many or very long labels is the same first 1,000 bytes as when
// every label was written out.
func TestAlertFactOfHugeAlerts(t *testing.T) {
	full := func(a amAlert, what string) string { // the sentence written out in full, then cut
		var pairs []string
		for _, n := range identityLabels {
			if v, ok := a.Labels[n]; ok {
				pairs = append(pairs, n+"="+v)
			}
		}
		var rest []string
		for n := range a.Labels {
			if n != "alertname" && n != "severity" && !slices.Contains(identityLabels, n) {
				rest = append(rest, n)
			}
		}
		sort.Strings(rest)
		for _, n := range rest {
			pairs = append(pairs, n+"="+a.Labels[n])
		}
		s := "Alert " + a.Labels["alertname"] + " " + what
		if len(pairs) > 0 {
			s += " for " + strings.Join(pairs, ", ")
		}
		if sev := a.Labels["severity"]; sev != "" {
			s += " (severity " + sev + ")"
		}
		if sum := alertSummary(a.Annotations, nil); sum != "" && a.Status == amFiring {
			s += ": " + sum
		}
		return truncate(s, 1000)
	}
	many := map[string]string{"alertname": "Many", "severity": "critical", "instance": "db-1"}
	for i := range 5000 {
		many[fmt.Sprintf("l%04d", i)] = "värde"
	}
	cases := []amAlert{
		{Status: amFiring, Labels: many, Annotations: map[string]string{"summary": "s"}},
		{Status: amFiring, Labels: map[string]string{"alertname": "Long", "job": strings.Repeat("渡", 2000)}},
		{Status: amResolved, Labels: map[string]string{"alertname": "Short", "severity": "warning", "service": "api"}},
		{Status: amFiring, Labels: map[string]string{"alertname": "Edge", "x": strings.Repeat("a", 960)},
			Annotations: map[string]string{"summary": "tail words"}},
	}
	for i, a := range cases {
		what := "started firing"
		if a.Status == amResolved {
			what = "resolved"
		}
		if got, want := alertFact(a, what), full(a, what); got != want {
			t.Errorf("case %d:\n got %q\nwant %q", i, got, want)
		}
	}
}
