package drafts_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	amFixture  = "../receiver/testdata/alertmanager/v0.34.2/01-first-firing.json"
	storyDir   = "../receiver/testdata/pagerduty/story/"
	pdSecret   = "postmortemd-drafts-test-secret"
	resolveGap = time.Minute // --resolve-grace
)

// amReceivedAt is when the captured notification reached the capture sink
// (receiver/testdata/alertmanager/v0.34.2/capture-log.tsv).
var amReceivedAt = time.Date(2026, 11, 23, 13, 31, 42, 364738000, time.UTC)

// story is the real captured incident: Alertmanager's first notification of HighLatency, then the
// PagerDuty incident it paged (receiver/testdata/pagerduty/story), delivered through the service's
// own route table, receiver and store. Each PagerDuty event is received one second after PagerDuty's
// occurred_at. It returns the incident and its events after the first `pd` PagerDuty deliveries
// (14: the whole story; 12: resolved once, with the resolution note, before the reopen).
type story struct {
	t     *testing.T
	srv   http.Handler
	store *redisstore.Store
	now   time.Time
	next  int
	files []string
}

func newStory(t *testing.T) *story {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := &story{t: t}
	s.store = redisstore.New(rdb, redisstore.Options{ResolveGrace: resolveGap, Now: func() time.Time { return s.now }})
	rcv := receiver.New(receiver.Options{Store: s.store, Now: func() time.Time { return s.now },
		PagerDuty: receiver.PagerDutyOptions{Secrets: []string{pdSecret}, Participants: s.store}})
	s.srv = web.New(web.Options{Store: s.store, Ready: s.store, Webhooks: rcv})
	s.files, _ = filepath.Glob(storyDir + "[0-9]*.json")
	if len(s.files) != 14 {
		t.Fatalf("%d story files, want 14", len(s.files))
	}
	s.now = amReceivedAt
	s.post("/webhook/alertmanager", mustRead(t, amFixture), nil)
	return s
}

func (s *story) post(path string, body []byte, hdr map[string]string) {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		s.t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
	}
}

// deliverPD delivers the story's PagerDuty events up to and including number n (1-based).
func (s *story) deliverPD(n int) {
	s.t.Helper()
	for ; s.next < n; s.next++ {
		body := mustRead(s.t, s.files[s.next])
		var env struct {
			Event struct {
				OccurredAt time.Time `json:"occurred_at"`
			} `json:"event"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			s.t.Fatal(err)
		}
		s.now = env.Event.OccurredAt.Add(time.Second)
		m := hmac.New(sha256.New, []byte(pdSecret))
		m.Write(body)
		s.post("/webhook/pagerduty", body, map[string]string{
			"X-PagerDuty-Signature": "v1=" + hex.EncodeToString(m.Sum(nil)),
			"X-Webhook-Id":          fmt.Sprintf("wh-%02d", s.next), "User-Agent": "PagerDuty-Webhook/V3.0",
		})
	}
}

// input reads the incident back from the store as the resolution worker will. The incident id's
// random part is fixed so the golden files are stable.
func (s *story) input() drafts.Input {
	s.t.Helper()
	ctx := context.Background()
	incs, err := s.store.Incidents(ctx, timeline.ListOptions{})
	if err != nil || len(incs) != 1 {
		s.t.Fatalf("incidents %+v, %v: want one", incs, err)
	}
	inc := incs[0]
	es, err := s.store.Entries(ctx, inc.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	timeline.SortEntries(es)
	evs := make([]timeline.Event, len(es))
	for i, e := range es {
		if err := json.Unmarshal(e.JSON, &evs[i]); err != nil {
			s.t.Fatal(err)
		}
	}
	inc.ID = inc.ID[:len(inc.ID)-8] + "5eed0001"
	in := drafts.Input{Incident: inc, Events: evs, Now: s.now}
	if inc.SettlesAt != nil {
		in.Now = *inc.SettlesAt
		if !inc.Settled(in.Now) {
			s.t.Fatalf("incident not settled at %v", in.Now)
		}
	}
	return in
}

// storyInput is the incident after the first n PagerDuty events.
func storyInput(t *testing.T, n int) drafts.Input {
	t.Helper()
	s := newStory(t)
	s.deliverPD(n)
	return s.input()
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustRenderer(tb testing.TB, lang string) *drafts.Renderer {
	tb.Helper()
	r, err := drafts.NewRenderer(lang, "")
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func mustRender(tb testing.TB, lang string, in drafts.Input) []byte {
	tb.Helper()
	out, err := mustRenderer(tb, lang).Render(in)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// frontMatter decodes a draft's front matter.
func frontMatter(tb testing.TB, draft []byte) map[string]any {
	tb.Helper()
	rest, ok := bytes.CutPrefix(draft, []byte("---\n"))
	fm, _, ok2 := bytes.Cut(rest, []byte("\n---\n"))
	if !ok || !ok2 {
		tb.Fatalf("no front matter in:\n%.300s", draft)
	}
	var m map[string]any
	if err := yaml.Unmarshal(fm, &m); err != nil {
		tb.Fatalf("front matter does not parse: %v\n%s", err, fm)
	}
	return m
}

var markerLine = regexp.MustCompile(`(?m)^(?:<!-- |# )postmortemd:(begin|end) ([a-z0-9-]+)`)

// blockNames lists the machine-owned blocks of a draft in order.
func blockNames(draft []byte) []string {
	var names []string
	for _, m := range markerLine.FindAllSubmatch(draft, -1) {
		if string(m[1]) == "begin" {
			names = append(names, string(m[2]))
		}
	}
	return names
}

var wantBlocks = []string{"attributes", "attributes-table", "observed", "facts", "context", "decisions", "tools", "review"}

// split returns what a person owns (everything outside the blocks, each block replaced by its
// name) and what postmortemd owns (the blocks, marker lines included).
func split(draft []byte) (human, machine string) {
	var h, m strings.Builder
	lines := strings.SplitAfter(string(draft), "\n")
	in := false
	for _, l := range lines {
		mm := markerLine.FindStringSubmatch(l)
		switch {
		case mm != nil && mm[1] == "begin":
			in = true
			h.WriteString("[block " + mm[2] + "]\n")
			m.WriteString(l)
		case mm != nil && mm[1] == "end":
			in = false
			m.WriteString(l)
		case in:
			m.WriteString(l)
		default:
			h.WriteString(l)
		}
	}
	return h.String(), m.String()
}

func TestGoldenDraftsOfACapturedIncident(t *testing.T) {
	in := storyInput(t, 14)
	for _, lang := range drafts.Languages {
		t.Run(lang, func(t *testing.T) {
			got := mustRender(t, lang, in)
			golden := filepath.Join("testdata", "story."+lang+".md")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := mustRead(t, golden)
			if !bytes.Equal(got, want) {
				t.Errorf("draft differs from %s (run go test ./drafts -run Golden -update and review the diff):\n%s",
					golden, firstDiff(got, want))
			}
		})
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %q\nwant: %q", i+1, gl, wl)
		}
	}
	return "(same lines)"
}

// The facts of the captured story that the draft must state, whatever the template's wording.
func TestDraftStatesWhatTheTimelineKnows(t *testing.T) {
	in := storyInput(t, 14)
	out := mustRender(t, "en", in)
	fm := frontMatter(t, out)
	want := map[string]any{
		"id": in.Incident.ID, "severity": "P1", "priority": "P1", "status": "draft", "recommended": false,
		"incident_status": "resolved", "time_to_detect": "1s", "time_to_acknowledge": "2m29s", "time_to_resolve": "1h17m49s",
		"title": "HighLatency: p99 latency above 2s",
	}
	for k, v := range want {
		if fmt.Sprint(fm[k]) != fmt.Sprint(v) {
			t.Errorf("front matter %s = %v, want %v", k, fm[k], v)
		}
	}
	for k, v := range map[string]string{"started": "2026-11-23T13:31:41Z", "detected": "2026-11-23T13:31:42Z",
		"acknowledged": "2026-11-23T13:34:09Z", "resolved": "2026-11-23T14:49:30Z"} {
		if ts, ok := fm[k].(time.Time); !ok || ts.Format(time.RFC3339) != v {
			t.Errorf("front matter %s = %v, want %s", k, fm[k], v)
		}
	}
	for _, s := range []string{
		"https://acme.pagerduty.com/incidents/Q2W5L8MZ1RBT4J", "http://127.0.0.1:19093", "https://runbooks.example/checkout/high-latency",
		"http://prometheus.example:9090/graph?g0.expr=histogram", "https://meet.example.com/inc-4217", "p99 latency above 2s",
		"| Reopened |", "| Escalated |", "| Changed the priority |", "| Requested another responder |", "| Assigned an incident role |",
		"orders-db primary: a long-running schema migration",
	} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("draft lacks %q", s)
		}
	}
	// Nobody is named: the story's people appear only as roles.
	var people struct {
		PII []string `json:"pii_strings"`
	}
	_ = json.Unmarshal(mustRead(t, storyDir+"people.json"), &people)
	for _, p := range people.PII {
		if !strings.Contains(p, "/users/") && bytes.Contains(bytes.ToLower(out), bytes.ToLower([]byte(p))) {
			t.Errorf("the draft names %q", p)
		}
	}
}

// Every embedded template, on an incident with an empty timeline and on the full story, renders
// every part, with front matter that parses and every machine-owned block in place.
func TestEveryTemplateRendersEveryPart(t *testing.T) {
	headings := map[string][]string{
		"en": {"## 1. Incident attributes", "## 2. Summary", "### User impact", "## 3. Walkthrough", "### Facts (from the systems)",
			"### Context (what people wrote at the time, by role)", "## 4. Cognition and process", "## 5. Action items",
			"| Action | Owner (role) | Due | Horizon | Status | Agreed reason |", "## Software and tools used", "## Review"},
		"ja": {"## 1. インシデントの属性", "## 2. 概要", "### ユーザーへの影響", "## 3. 経緯", "### 事実（システムの記録）",
			"### コンテキスト（その時に人が書いたこと、ロール別）", "## 4. 認知とプロセス", "## 5. アクションアイテム",
			"| アクション | 担当（ロール） | 期限 | 期間 | ステータス | 合意した理由 |", "## 使用したソフトウェアとツール", "## 振り返り会"},
	}
	full := storyInput(t, 14)
	withReview := full
	withReview.Review = &drafts.Review{Start: time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC),
		TimeZone: "Asia/Tokyo", Reason: "the first slot in working hours for every role"}
	inputs := map[string]drafts.Input{
		"empty timeline": {Incident: timeline.Incident{ID: "20261123-quiet-00000000", Title: "Quiet", Status: timeline.StatusResolved}},
		"zero incident":  {},
		"full story":     full,
		"with review":    withReview,
	}
	for _, lang := range drafts.Languages {
		for name, in := range inputs {
			t.Run(lang+"/"+name, func(t *testing.T) {
				out := mustRender(t, lang, in)
				fm := frontMatter(t, out)
				for _, k := range []string{"id", "title", "status", "severity", "priority", "services", "labels", "sources", "started",
					"detected", "acknowledged", "resolved", "time_to_detect", "time_to_acknowledge", "time_to_resolve", "roles", "tags", "recommended"} {
					if _, ok := fm[k]; !ok {
						t.Errorf("front matter lacks %s", k)
					}
				}
				if _, ok := fm["review"]; ok != (in.Review != nil) {
					t.Errorf("front matter review present = %v, want %v", ok, in.Review != nil)
				}
				for _, h := range headings[lang] {
					if !bytes.Contains(out, []byte("\n"+h+"\n")) {
						t.Errorf("no %q line", h)
					}
				}
				if got := blockNames(out); strings.Join(got, " ") != strings.Join(wantBlocks, " ") {
					t.Errorf("blocks %v, want %v", got, wantBlocks)
				}
				if merged, ok, err := drafts.Merge(out, out); err != nil || !ok || !bytes.Equal(merged, out) {
					t.Errorf("a draft does not merge with itself: ok %v, err %v", ok, err)
				}
			})
		}
	}
}

// A reopened and resolved-again incident, drafted the first time it resolved: the Japanese and
// English drafts differ only in wording, not in the facts they carry. The front matter's values
// are the same, except the names of roles and sources, which are words in the draft's language.
func TestLanguagesCarryTheSameFacts(t *testing.T) {
	in := storyInput(t, 14)
	en, ja := mustRender(t, "en", in), mustRender(t, "ja", in)
	a, b := frontMatter(t, en), frontMatter(t, ja)
	for _, fm := range []map[string]any{a, b} {
		roles := fm["roles"].(map[string]any)
		fm["roles"] = fmt.Sprint(len(roles["systems"].([]any)), " systems, ", len(roles["responders"].([]any)), " responders")
		for _, s := range fm["sources"].([]any) {
			delete(s.(map[string]any), "name")
		}
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("front matter differs:\nen %v\nja %v", a, b)
	}
	rows := regexp.MustCompile(`(?m)^\| (\S+ )?[0-9:]{8} \| .*$`)
	if a, b := rows.FindAll(en, -1), rows.FindAll(ja, -1); len(a) == 0 || len(a) != len(b) {
		t.Errorf("%d timeline rows in en, %d in ja", len(a), len(b))
	}
}

func TestNewRenderer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	custom := write("ours.md.tmpl", "---\nid: {{.ID.YAML}}\n# postmortemd:begin attributes\nseverity: {{.Severity.YAML}}\n# postmortemd:end attributes\n---\n\n# {{.Title}}\n\n"+
		"<!-- postmortemd:begin facts -->\n{{range .Facts}}- {{.When}} {{.Role}}: {{.Fact}}\n{{end}}<!-- postmortemd:end facts -->\n")
	tests := []struct {
		name, lang, custom, wantErr string
	}{
		{"english", "en", "", ""},
		{"japanese", "ja", "", ""},
		{"unknown language", "fr", "", `draft language "fr"`},
		{"no language", "", "", `draft language ""`},
		{"custom template", "en", custom, ""},
		{"missing custom file", "en", filepath.Join(dir, "nope.tmpl"), "nope.tmpl"},
		{"syntax error names file and line", "en", write("bad.tmpl", "---\nid: x\n---\n\n{{if .Title}}\n"), "bad.tmpl:6"},
		{"unknown field fails at start-up", "en", write("field.tmpl", "---\nid: x\n---\n{{.Nope}}\n"), "field.tmpl:4"},
		{"nil review fails at start-up", "en", write("review.tmpl", "---\nid: x\n---\n{{.Review.Start.DateTime}}\n"), "review.tmpl"},
		{"invalid YAML fails at start-up", "en", write("yaml.tmpl", "---\ntitle: {{.Title}}: {{.ID}}\n---\n"), "front matter is not valid YAML"},
		{"unclosed block fails at start-up", "en", write("open.tmpl", "---\nid: x\n---\n<!-- postmortemd:begin facts -->\n"), `block "facts" is not closed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := drafts.NewRenderer(tt.lang, tt.custom)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr != "" && r != nil:
				t.Fatal("a renderer with an error")
			}
		})
	}
	r, err := drafts.NewRenderer("en", custom)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(storyInput(t, 14))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("Acknowledged by the primary on-call (level 1) for checkout")) ||
		strings.Join(blockNames(out), " ") != "attributes facts" {
		t.Errorf("custom template output:\n%s", out)
	}
}

// An Alertmanager-only incident: the alert started at t0 and resolved 3s later, and reached
// postmortemd (recorded_at) at t0+received, e.g. hours late after an outage and retries.
func lateAlertInput(received time.Duration, extra ...timeline.Event) drafts.Input {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	resolved := t0.Add(3 * time.Second)
	am := timeline.Role("Alertmanager (receiver postmortemd)")
	evs := []timeline.Event{
		{ID: "am-1", At: t0, RecordedAt: t0.Add(received), Source: timeline.SourceAlertmanager, Type: timeline.TypeAlertFiring,
			Kind: timeline.KindFact, Role: am, Fact: "Alert DiskFull started firing for service=storage",
			Attributes: json.RawMessage(`{"fingerprint":"5c1d3a0b9e7f2c44","labels":{"alertname":"DiskFull","service":"storage"},"starts_at":"2026-11-23T10:00:00Z"}`)},
		{ID: "am-2", At: resolved, RecordedAt: t0.Add(received), Source: timeline.SourceAlertmanager, Type: timeline.TypeIncidentResolved,
			Kind: timeline.KindFact, Role: am, Fact: "Alertmanager reported every alert of the group resolved (1 alert)",
			Attributes: json.RawMessage(`{"group_key":"{}:{alertname=\"DiskFull\"}","alerts":1,"truncated_alerts":0}`)},
	}
	return drafts.Input{Incident: timeline.Incident{ID: "20261123-diskfull-00000001", Title: "DiskFull", Status: timeline.StatusResolved,
		StartedAt: t0, ResolvedAt: &resolved}, Events: append(evs, extra...), Now: t0.Add(received + time.Minute)}
}

// Detection is never after the resolution nor before the start, whatever postmortemd's clock says.
func TestDetectedIsBetweenStartAndResolution(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	page := timeline.Event{ID: "pd-1", At: t0.Add(time.Second), RecordedAt: t0.Add(3 * time.Hour), Source: timeline.SourcePagerDuty,
		Type: timeline.TypeIncidentTriggered, Kind: timeline.KindFact, Role: "monitoring integration (Alertmanager)", Fact: "PagerDuty incident #1 triggered"}
	tests := []struct {
		name                   string
		in                     drafts.Input
		detected, timeToDetect string
		late                   bool
	}{
		{"alert received on time", lateAlertInput(2 * time.Second), "2026-11-23T10:00:02Z", "2s", false},
		{"alert received 3h after the resolution: the alert's start", lateAlertInput(3 * time.Hour), "2026-11-23T10:00:00Z", "0s", true},
		{"alert received late, paged before the resolution: the page, nothing to explain", lateAlertInput(3*time.Hour, page), "2026-11-23T10:00:01Z", "1s", false},
		{"alert recorded before the start (clock skew): the start", lateAlertInput(-time.Minute), "2026-11-23T10:00:00Z", "0s", false},
	}
	for _, tt := range tests {
		for _, lang := range drafts.Languages {
			t.Run(lang+"/"+tt.name, func(t *testing.T) {
				out := mustRender(t, lang, tt.in)
				fm := frontMatter(t, out)
				if ts, ok := fm["detected"].(time.Time); !ok || ts.Format(time.RFC3339) != tt.detected {
					t.Errorf("detected = %v, want %s", fm["detected"], tt.detected)
				}
				if fm["time_to_detect"] != tt.timeToDetect || fm["time_to_resolve"] != "3s" {
					t.Errorf("time_to_detect %v, time_to_resolve %v; want %s, 3s", fm["time_to_detect"], fm["time_to_resolve"], tt.timeToDetect)
				}
				note := map[string]string{"en": "received the alert only after the resolution", "ja": "アラートを受け取ったのは解決の後"}[lang]
				if got := bytes.Contains(out, []byte(note)); got != tt.late {
					t.Errorf("the attributes table explains a late alert: %v, want %v", got, tt.late)
				}
			})
		}
	}
}

// An incident only Alertmanager reported, with a note a person wrote: part 4 asks about the alerts
// stopping and about the note, and invents no step nobody took.
func TestAlertmanagerOnlyIncidentHasDecisionPoints(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	note := timeline.Event{ID: "manual-1", At: t0.Add(2 * time.Second), RecordedAt: t0.Add(time.Hour), Source: timeline.SourceManual,
		Type: timeline.TypeNote, Kind: timeline.KindContext, Role: "storage on-call", Fact: "Deleted old snapshots to free the disk"}
	want := map[string][]string{
		"en": {"| 10:00:02 | storage on-call | Note | Deleted old snapshots to free the disk |",
			"| 10:00:03 | Alertmanager (receiver postmortemd) | The alerts stopped firing | Alertmanager reported every alert of the group resolved (1 alert) |",
			"#### 10:00:02 UTC: Note (storage on-call)\n\n- What did you believe then, and why?\n",
			"#### 10:00:03 UTC: The alerts stopped firing (Alertmanager (receiver postmortemd))\n\n- What was done just before, and what told you it was over?\n"},
		"ja": {"| 10:00:02 | storage on-call | ノート | Deleted old snapshots to free the disk |",
			"| 10:00:03 | Alertmanager（レシーバー postmortemd） | アラートの停止 | Alertmanager がグループのすべてのアラートの解決を報告しました（1 件） |",
			"#### 10:00:02 UTC: ノート（storage on-call）\n\n- その時点で何を信じていましたか。その理由は？\n",
			"#### 10:00:03 UTC: アラートの停止（Alertmanager（レシーバー postmortemd））\n\n- 直前に何が行われましたか。収束したと分かったのは何からでしたか。\n"},
	}
	absent := map[string][]string{
		"en": {"The timeline shows no decision points", "What did you expect this step to change?", "UTC: Resolved"},
		"ja": {"タイムラインに判断ポイント", "この対応で何が変わると期待しましたか", "UTC: 解決"},
	}
	for _, lang := range drafts.Languages {
		t.Run(lang, func(t *testing.T) {
			out := mustRender(t, lang, lateAlertInput(time.Second, note))
			for _, s := range want[lang] {
				if !bytes.Contains(out, []byte(s)) {
					t.Errorf("draft lacks %q", s)
				}
			}
			for _, s := range absent[lang] {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("draft has %q", s)
				}
			}
		})
	}
}

// Drafted when the incident first resolved (story step 12), answered by a person, drafted again
// after the reopen and the second resolution (step 14): the merged draft asks the questions of the
// new decision points, and keeps the answers.
func TestRedraftAfterReopenAsksAboutTheNewDecisionPoints(t *testing.T) {
	reopen := map[string]string{
		"en": "#### 14:36:12 UTC: Reopened (incident commander)\n\n- Which signal did you see (alert, page, dashboard, message)?\n" +
			"- What did you believe was happening, and why?\n- What did you expect this step to change?\n" +
			"- What surprised you, then or later?\n- What showed it was not over, and what had the earlier resolution missed?\n",
		"ja": "#### 14:36:12 UTC: 再オープン（インシデントコマンダー）\n\n- どのシグナルを見ましたか（アラート、呼び出し、ダッシュボード、メッセージ）？\n" +
			"- 何が起きていると考えていましたか。その理由は？\n- この対応で何が変わると期待しましたか？\n" +
			"- その時、あるいは後から、何に驚きましたか？\n- まだ終わっていないと分かったきっかけは何でしたか。先の解決判断は何を見落としていましたか。\n",
	}
	answers := map[string]string{"en": "### Answers\n", "ja": "### 回答\n"}
	for _, lang := range drafts.Languages {
		t.Run(lang, func(t *testing.T) {
			s := newStory(t)
			s.deliverPD(12)
			v1 := mustRender(t, lang, s.input())
			if bytes.Contains(v1, []byte(reopen[lang])) {
				t.Fatal("the first draft already asks about the reopen")
			}
			answer := answers[lang] + "\n#### 14:21:39 UTC\n\nWe believed the cancelled migration was the whole cause.\n"
			edited := bytes.Replace(v1, []byte(answers[lang]), []byte(answer), 1)
			s.deliverPD(14)
			v2 := mustRender(t, lang, s.input())
			merged, ok, err := drafts.Merge(edited, v2)
			if err != nil || !ok {
				t.Fatalf("merge: ok %v, err %v", ok, err)
			}
			if !bytes.Contains(merged, []byte(reopen[lang])) {
				t.Errorf("the redraft does not ask about the reopen:\n%s", merged)
			}
			if !bytes.Contains(merged, []byte(answer)) {
				t.Error("the redraft lost the answer")
			}
		})
	}
}

// The roles the facts name as targets (paged, escalated to, assigned) are listed, never names.
func TestRolesIncludeTargetsOfSteps(t *testing.T) {
	fm := frontMatter(t, mustRender(t, "en", storyInput(t, 14)))
	roles, _ := fm["roles"].(map[string]any)
	responders := fmt.Sprint(roles["responders"])
	for _, r := range []string{"secondary on-call (level 2) for checkout", "incident commander", "primary on-call (level 1) for checkout"} {
		if !strings.Contains(responders, r) {
			t.Errorf("roles.responders %s lacks %q", responders, r)
		}
	}
}
