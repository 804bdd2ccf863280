package drafts_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

// handEdit is what a person does to a fresh draft in an editor: front-matter keys they own, text
// under every prompt, answers at a decision point, words right next to the markers.
func handEdit(t *testing.T, draft []byte) []byte {
	t.Helper()
	s := string(draft)
	for _, r := range [][2]string{
		{"status: draft # draft, in-review, reviewed, published", "status: in-review"},
		{"tags: []", "tags: [checkout, database, \"schema-migration\"]\nreviewers: [\"incident commander\", \"database on-call\"]"},
		{"recommended: false", "recommended: true # good example of a migration gone wrong"},
		{"title: \"HighLatency: p99 latency above 2s\"", "title: \"Checkout slow: a schema migration held row locks\""},
		{"_What happened, what was done, and what we learnt, for someone who was not there._",
			"A schema migration on orders-db held row locks for 40 minutes.  \nCheckout p99 went above 2 s.\t\n\n日本語のメモも残す。"},
		{"<!-- postmortemd:end observed -->\n", "<!-- postmortemd:end observed -->\nRight below the observed block: 4.1% of checkouts failed.\n"},
		{"### Answers\n\n_Answer the questions above here, under the time and step you answer for (copy its heading).\nThis part is yours: postmortemd never changes it._\n",
			"### Answers\n\n#### 13:34:09 UTC: Acknowledged\n\n- What surprised you, then or later? That the migration ran at peak.\n"},
		{"| _To detect sooner: …_ | _role_ | _YYYY-MM-DD_ | _short / long_ | open | |",
			"| Alert on lock waits on orders-db | database on-call | 2026-12-15 | short | open | |"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("the draft lacks %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return []byte(s)
}

// The incident resolves, a person edits the draft, the incident reopens and resolves again: the new
// facts land in the machine-owned blocks, and every byte the person owns is kept.
func TestRegenerateAfterReopenKeepsHumanEditsByteForByte(t *testing.T) {
	for _, lang := range drafts.Languages {
		t.Run(lang, func(t *testing.T) {
			s := newStory(t)
			s.deliverPD(12) // resolved, with the resolution note
			first := s.input()
			r := mustRenderer(t, lang)
			v1, err := r.Render(first)
			if err != nil {
				t.Fatal(err)
			}
			store := &drafts.Store{Dir: t.TempDir()}
			res, err := store.Write(first.Incident, v1)
			if err != nil || res.Outcome != drafts.Created {
				t.Fatalf("first write: %+v, %v", res, err)
			}
			if lang == "ja" {
				// the English edit script's anchors are English; edit the Japanese draft's own prompt
				ja := strings.Replace(string(v1), "_何が起き、何をして、何を学んだか。その場にいなかった人に向けて書いてください。_",
					"スキーマ移行が orders-db の行ロックを保持した。  \n\t\n", 1)
				ja = strings.Replace(ja, "status: draft # draft, in-review, reviewed, published", "status: in-review", 1)
				if err := os.WriteFile(res.Path, []byte(ja), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(res.Path, handEdit(t, v1), 0o644); err != nil {
				t.Fatal(err)
			}
			edited := mustRead(t, res.Path)

			s.deliverPD(14) // reopened, resolved again
			second := s.input()
			if second.Incident.ID != first.Incident.ID || len(second.Events) <= len(first.Events) {
				t.Fatalf("second resolution: %d events, first %d", len(second.Events), len(first.Events))
			}
			v2, err := r.Render(second)
			if err != nil {
				t.Fatal(err)
			}
			res2, err := store.Write(second.Incident, v2)
			if err != nil || res2.Outcome != drafts.Merged || res2.Path != res.Path {
				t.Fatalf("second write: %+v, %v", res2, err)
			}
			merged := mustRead(t, res.Path)
			humanBefore, _ := split(edited)
			humanAfter, machineAfter := split(merged)
			if humanAfter != humanBefore {
				t.Errorf("human text changed:\n%s", firstDiff([]byte(humanAfter), []byte(humanBefore)))
			}
			if _, machineV2 := split(v2); machineAfter != machineV2 {
				t.Errorf("machine-owned blocks are not the regenerated ones:\n%s", firstDiff([]byte(machineAfter), []byte(machineV2)))
			}
			fm := frontMatter(t, merged)
			if fm["status"] != "in-review" || fm["time_to_resolve"] != "1h17m49s" || fm["incident_status"] != "resolved" {
				t.Errorf("front matter after merge: status %v, time_to_resolve %v", fm["status"], fm["time_to_resolve"])
			}
			reopened := map[string]string{"en": "Reopened by the incident commander", "ja": "インシデントコマンダーが再オープンしました"}[lang]
			if !bytes.Contains(merged, []byte(reopened)) {
				t.Error("the reopen is not in the merged draft")
			}
			if lang == "en" && (fm["title"] != "Checkout slow: a schema migration held row locks" || fm["recommended"] != true) {
				t.Errorf("human-owned keys: title %v, recommended %v", fm["title"], fm["recommended"])
			}
			// Nothing new: nothing written.
			res3, err := store.Write(second.Incident, v2)
			if err != nil || res3.Outcome != drafts.Unchanged || !bytes.Equal(mustRead(t, res.Path), merged) {
				t.Fatalf("third write: %+v, %v", res3, err)
			}
		})
	}
}

// What a person can do to the markers, and what Merge and Store.Write make of it.
func TestUnsafeMergesWriteBesideAndLeaveTheDraftUntouched(t *testing.T) {
	s := newStory(t)
	s.deliverPD(12)
	first := s.input()
	v1 := mustRender(t, "en", first)
	s.deliverPD(14)
	second := s.input()
	v2 := mustRender(t, "en", second)

	block := func(name string) string {
		m := regexp.MustCompile(`(?s)<!-- postmortemd:begin ` + name + ` [^\n]*\n.*?<!-- postmortemd:end ` + name + ` -->\n`).FindString(string(v1))
		if m == "" {
			t.Fatalf("no block %s", name)
		}
		return m
	}
	tests := []struct {
		name string
		edit func(string) string
		ok   bool
	}{
		{"untouched", func(s string) string { return s }, true},
		{"edited around the blocks", func(s string) string {
			return strings.Replace(s, "## Review\n", "## Review\n\nWe meet on Monday.\n", 1)
		}, true},
		{"line endings converted to CRLF", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }, true},
		{"trailing blanks added inside a block", func(s string) string {
			return strings.Replace(s, "| --- | --- | --- |\n", "| --- | --- | --- |   \n", 1)
		}, true},
		{"end marker deleted", func(s string) string { return strings.Replace(s, "<!-- postmortemd:end facts -->\n", "", 1) }, false},
		{"begin marker deleted", func(s string) string {
			return regexp.MustCompile(`<!-- postmortemd:begin context [^\n]*\n`).ReplaceAllString(s, "")
		}, false},
		{"whole block deleted", func(s string) string { return strings.Replace(s, block("tools"), "", 1) }, false},
		{"block duplicated", func(s string) string { return strings.Replace(s, "## Review\n", block("facts")+"## Review\n", 1) }, false},
		{"blocks reordered", func(s string) string {
			f, c := block("facts"), block("context")
			return strings.Replace(strings.Replace(strings.Replace(s, f, "@@F@@", 1), c, f, 1), "@@F@@", c, 1)
		}, false},
		{"fact edited inside its block", func(s string) string {
			return strings.Replace(s, "Acknowledged by the primary on-call", "Acknowledged (late!) by the primary on-call", 1)
		}, false},
		{"machine-owned front-matter key edited", func(s string) string { return strings.Replace(s, `severity: "P1"`, `severity: "SEV1"`, 1) }, false},
		{"seal removed", func(s string) string {
			return regexp.MustCompile(`(<!-- postmortemd:begin facts) sha256:[0-9a-f]+`).ReplaceAllString(s, "$1")
		}, false},
		{"marker mangled", func(s string) string {
			return strings.Replace(s, "<!-- postmortemd:end tools -->", "<!-- postmortemd:end tools--->", 1)
		}, false},
		{"human key duplicates a machine key", func(s string) string { return strings.Replace(s, "tags: []", "tags: []\nseverity: SEV1", 1) }, false},
		{"front matter closing line deleted", func(s string) string {
			return strings.Replace(s, "recommended: false\n---\n", "recommended: false\n", 1)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existing := []byte(tt.edit(string(v1)))
			merged, ok, err := drafts.Merge(existing, v2)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok {
				h1, _ := split(existing)
				h2, _ := split(merged)
				if h1 != h2 || !bytes.Contains(merged, []byte("Reopened by the incident commander")) {
					t.Fatalf("merge lost human text or missed the new facts:\n%s", firstDiff([]byte(h2), []byte(h1)))
				}
				if strings.Contains(tt.name, "CRLF") && bytes.Contains(bytes.ReplaceAll(merged, []byte("\r\n"), nil), []byte("\n")) {
					t.Fatal("merged CRLF draft has bare LF line endings")
				}
				return
			}
			// Through the store: the draft stays as the person left it, the new version lies beside it.
			dir := t.TempDir()
			now := time.Date(2026, 11, 23, 14, 51, 30, 0, time.UTC)
			store := &drafts.Store{Dir: dir, Now: func() time.Time { return now }}
			path := filepath.Join(dir, drafts.FileName(second.Incident))
			if err := os.WriteFile(path, existing, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := store.Write(second.Incident, v2)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(path, ".md") + ".regenerated-20261123T145130Z.md"
			if res.Outcome != drafts.WrittenBeside || res.Path != want || res.Reason == "" {
				t.Fatalf("result %+v, want written beside as %s", res, want)
			}
			if !bytes.Equal(mustRead(t, path), existing) || !bytes.Equal(mustRead(t, res.Path), v2) {
				t.Fatal("the draft was changed, or the version beside it is not the regenerated one")
			}
			// Another replica, or a retry, with the same version: no second copy.
			now = now.Add(time.Minute)
			if again, err := store.Write(second.Incident, v2); err != nil || again.Outcome != drafts.Unchanged || again.Path != want {
				t.Fatalf("second write: %+v, %v", again, err)
			}
			if files, _ := filepath.Glob(filepath.Join(dir, "*.md")); len(files) != 2 {
				t.Fatalf("files %v", files)
			}
		})
	}
	if _, _, err := drafts.Merge(v1, []byte("no front matter")); err == nil {
		t.Error("a malformed regenerated draft merged")
	}
}

func TestStoreRefusesAnotherIncidentsFile(t *testing.T) {
	in := storyInput(t, 14)
	store := &drafts.Store{Dir: t.TempDir()}
	if _, err := store.Write(in.Incident, mustRender(t, "en", in)); err != nil {
		t.Fatal(err)
	}
	other := in
	other.Incident.ID = "someone-else" // same file name only if FileName collides; force it
	path := filepath.Join(store.Dir, drafts.FileName(other.Incident))
	if err := os.Rename(filepath.Join(store.Dir, drafts.FileName(in.Incident)), path); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Write(other.Incident, mustRender(t, "en", other)); !errors.Is(err, timeline.ErrConflict) {
		t.Fatalf("error %v, want a conflict", err)
	}
	if _, err := store.Write(in.Incident, []byte("not a draft")); !errors.Is(err, timeline.ErrInvalid) {
		t.Fatalf("error %v, want invalid", err)
	}
}

var safeName = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}-[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{8}\.md$`)

func TestFileName(t *testing.T) {
	day := time.Date(2026, 11, 22, 10, 5, 1, 0, time.UTC)
	long := strings.Repeat("verylongalertname", 100)
	tests := []struct {
		name string
		inc  timeline.Incident
		want string
	}{
		{"receiver id", timeline.Incident{ID: "20261122-highlatency-9f86d081", Title: "HighLatency: p99 latency above 2s", StartedAt: day},
			"2026-11-22-highlatency-9f86d081.md"},
		{"local time is written as UTC", timeline.Incident{ID: "20261122-highlatency-9f86d081", Title: "HighLatency",
			StartedAt: day.Add(-11 * time.Hour).In(time.FixedZone("x", -12*3600))}, "2026-11-21-highlatency-9f86d081.md"},
		{"Alertmanager's PagerDuty title", timeline.Incident{ID: "Q2W5L8MZ1RBT4J", Title: "[FIRING:1] HighLatency (checkout critical)", StartedAt: day},
			"2026-11-22-highlatency-checkout-critical-6864aa35.md"},
		{"traversal", timeline.Incident{ID: "../../etc/passwd", Title: "../../etc/passwd", StartedAt: day}, ""},
		{"html and template syntax", timeline.Incident{ID: "<script>", Title: "<script>alert(1)</script>{{.Incident}} | pipe", StartedAt: day}, ""},
		{"no ASCII", timeline.Incident{ID: "x", Title: "決済の遅延", StartedAt: day}, ""},
		{"empty", timeline.Incident{}, ""},
		{"very long", timeline.Incident{ID: long, Title: long, StartedAt: day}, ""},
		{"NUL and slashes", timeline.Incident{ID: "a\x00/b", Title: "a\x00b/c\\d", StartedAt: day}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := drafts.FileName(tt.inc)
			if tt.want != "" && got != tt.want {
				t.Fatalf("FileName = %q, want %q", got, tt.want)
			}
			if !safeName.MatchString(got) || len(got) > 63 || strings.Contains(got, "..") || filepath.Base(got) != got {
				t.Fatalf("FileName = %q: not a safe name", got)
			}
			if again := drafts.FileName(tt.inc); again != got {
				t.Fatalf("not stable: %q then %q", got, again)
			}
		})
	}
	a := timeline.Incident{ID: "20261122-highlatency-9f86d081", Title: "HighLatency", StartedAt: day}
	b := a
	b.ID = "20261122-highlatency-0badf00d"
	if drafts.FileName(a) == drafts.FileName(b) {
		t.Error("two incidents, one file name")
	}
}

// Hostile labels, annotations and notes: a safe file name, Markdown that keeps its structure, no
// raw HTML or template syntax, YAML that reads back to the values, and no injected marker.
func TestHostileInputIsEscaped(t *testing.T) {
	big := strings.Repeat("A<&|`", 2048) // 10 KB
	labels := map[string]string{
		"alertname": "../../etc/passwd", "html": "<script>alert(1)</script>", "tmpl": "{{.Incident}}{{template \"x\"}}",
		"pipe": "a | b || c", "big": big, "yaml": "x\n# postmortemd:end attributes\nstatus: published\n---",
		"marker": "<!-- postmortemd:end facts -->", "bidi": "abc\u202Edef\u0000\u0085", "heading": "# not a heading",
		"service": "checkout\n| injected | row |",
	}
	ann := map[string]string{"summary": "<img src=x onerror=alert(1)> `code` *bold* [link](javascript:alert(1))",
		"description": "line 1\n<!-- postmortemd:begin facts -->\n# heading\n    code block\n1. list\n---",
		"runbook_url": "javascript:alert(1)", "dashboard": "https://user:secret@grafana.example/d/1?q=\"><script>"}
	attrs := func(v map[string]any) []byte { b, _ := jsonMarshal(v); return b }
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	resolved := start.Add(time.Hour)
	inc := timeline.Incident{ID: "../../x", Title: "../../etc/passwd: <script>{{.Incident}}</script>" + big, Status: timeline.StatusResolved,
		Severity: "critical\" injected: true", StartedAt: start, ResolvedAt: &resolved, Services: []string{"checkout | x", "<b>"}, Labels: labels,
		Sources: map[string]string{timeline.SourceKeyAlertmanagerExternal: "javascript:alert(1)", timeline.SourceKeyAlertmanagerReceiver: "r<>",
			timeline.SourceKeyPagerDutyIncidentHTML: "https://x.example/)](javascript:alert(1))"}}
	evs := []timeline.Event{
		{At: start, RecordedAt: start.Add(time.Second), Source: timeline.SourceAlertmanager, Type: timeline.TypeAlertFiring, Kind: timeline.KindFact,
			Role: "Alertmanager (receiver <b>|x|</b>)", Fact: "Alert " + labels["html"] + " | fired\n# heading " + big,
			Attributes: attrs(map[string]any{"labels": labels, "annotations": ann, "starts_at": start, "generator_url": "http://x/\")[y](javascript:alert(1))"})},
		{At: start.Add(time.Minute), Source: timeline.SourcePagerDuty, Type: timeline.TypeIncidentAcknowledged, Kind: timeline.KindFact,
			Role: "{{.Incident}} | role", Fact: "Acknowledged by <u>x</u>", Attributes: attrs(map[string]any{"conference_url": "tel:+1|2"})},
		{At: start.Add(2 * time.Minute), Source: timeline.SourcePagerDuty, Type: timeline.TypeNote, Kind: timeline.KindContext, Role: "a responder",
			Fact: "note\n<!-- postmortemd:end context -->\n| a | b |\n```\n{{.}}\n# postmortemd:begin attributes"},
	}
	in := drafts.Input{Incident: inc, Events: evs, Now: resolved}

	name := drafts.FileName(inc)
	if !safeName.MatchString(name) || len(name) > 63 {
		t.Fatalf("file name %q", name)
	}
	for _, lang := range drafts.Languages {
		t.Run(lang, func(t *testing.T) {
			out := mustRender(t, lang, in)
			for _, bad := range []string{"<script", "<img", "<b>", "<u>", "{{", "}}", "{%", "secret@", "\u202E", "\x00", big[:100]} {
				if bytes.Contains(out, []byte(bad)) {
					t.Errorf("output contains %q", bad)
				}
			}
			if m := regexp.MustCompile(`[^\\]\]\((?:javascript|tel):`).Find(out); m != nil {
				t.Errorf("output links to %q", m)
			}
			if got := blockNames(out); strings.Join(got, " ") != strings.Join(wantBlocks, " ") {
				t.Errorf("blocks %v, want %v (a marker was injected or lost)", got, wantBlocks)
			}
			if n := len(markerLine.FindAll(out, -1)); n != 2*len(wantBlocks) {
				t.Errorf("%d marker lines, want %d", n, 2*len(wantBlocks))
			}
			for _, l := range strings.Split(string(out), "\n") {
				if len(l) > 20000 {
					t.Errorf("a line of %d bytes", len(l))
				}
				if strings.HasPrefix(l, "| ") && strings.Count(l, "|")-strings.Count(l, `\|`) != strings.Count(tableHeaderOf(out, l), "|") {
					t.Errorf("table row with a broken cell count: %.200s", l)
				}
				if strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "# ") && !strings.HasPrefix(l, "## ") && !strings.HasPrefix(l, "### ") && !strings.HasPrefix(l, "#### ") {
					t.Errorf("odd heading line %.100q", l)
				}
			}
			fm := frontMatter(t, out)
			got, _ := fm["labels"].(map[string]any)
			for _, k := range []string{"html", "tmpl", "pipe", "yaml", "marker", "heading", "service"} {
				if got[k] != labels[k] {
					t.Errorf("label %s reads back as %q, want %q", k, got[k], labels[k])
				}
			}
			if b, _ := got["big"].(string); utf8.RuneCountInString(b) > 256 || !strings.HasPrefix(big, strings.TrimSuffix(b, "…")) {
				t.Errorf("big label reads back as %d runes", utf8.RuneCountInString(b))
			}
			if fm["status"] != "draft" || fm["severity"] != inc.Severity || fm["id"] != inc.ID {
				t.Errorf("front matter: status %v, severity %v, id %v", fm["status"], fm["severity"], fm["id"])
			}
			if merged, ok, err := drafts.Merge(out, out); err != nil || !ok || !bytes.Equal(merged, out) {
				t.Errorf("hostile draft does not merge with itself: %v %v", ok, err)
			}
		})
	}
}

// tableHeaderOf returns the header row of the table that row belongs to.
func tableHeaderOf(doc []byte, row string) string {
	lines := strings.Split(string(doc), "\n")
	header := ""
	for _, l := range lines {
		if !strings.HasPrefix(l, "| ") {
			header = ""
			continue
		}
		if header == "" {
			header = l
		}
		if l == row {
			return header
		}
	}
	return row
}

func TestTextEscaping(t *testing.T) {
	tests := []struct{ in, md, yaml string }{
		{"plain text", "plain text", `"plain text"`},
		{"<script>&", "&lt;script&gt;&amp;", `"\u003Cscript\u003E&"`},
		{"a | b", `a \| b`, `"a | b"`},
		{"{{.X}}", `\{\{.X\}\}`, `"\u007B{.X}\u007D"`},
		{"{}:{a=\"b\"} {%x%}", `\{\}:\{a="b"\} \{%x%\}`, `"{}:{a=\"b\"} \u007B%x%\u007D"`},
		{"# h", `\# h`, `"# h"`},
		{"- item", `\- item`, `"- item"`},
		{"12. item", `12\. item`, `"12. item"`},
		{"> quote", `&gt; quote`, `"\u003E quote"`},
		{"`code` *b* _i_ [l](u) ~s~ $m$ @team \\", "\\`code\\` \\*b\\* \\_i\\_ \\[l\\](u) \\~s\\~ \\$m\\$ \\@team \\\\", "\"`code` *b* _i_ [l](u) ~s~ $m$ @team \\\\\""},
		{"two\nlines\r\n\tand tabs", "two lines and tabs", `"two\nlines\r\n\tand tabs"`},
		{"bidi\u202Eevil\x00\x7f", "bidievil", `"bidi\u202Eevil\u0000\u007F"`},
		{"\xff", "\uFFFD", "\"\uFFFD\""},
		{"日本語", "日本語", `"日本語"`},
	}
	for _, tt := range tests {
		if got := drafts.Text(tt.in).String(); got != tt.md {
			t.Errorf("Markdown of %q = %q, want %q", tt.in, got, tt.md)
		}
		if got := drafts.Text(tt.in).YAML(); got != tt.yaml {
			t.Errorf("YAML of %q = %s, want %s", tt.in, got, tt.yaml)
		}
	}
	if got := drafts.Text("a\n\n# b\nc").Lines(2); got != "a\\\n  \\# b\\\n  c" {
		t.Errorf("Lines = %q", got)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
