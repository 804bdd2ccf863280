package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/atom"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// pm is one postmortem as people left it: a shipped draft (drafts/testdata) with its machine-owned
// attributes and people's own keys set.
type pm struct {
	id, title, status, lang string
	recommended             bool
	reason, synopsis        string
	services                []string
	severity                string
	// started, detected, acknowledged, resolved are the machine-owned times; "" writes null.
	started, detected, acknowledged, resolved string
	// review is the machine-owned review block's lines ("  start: ...").
	review string
	// people are people's own front matter lines ("impact_started: ...").
	people string
}

var fmLine = func(key string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + key + `: .*$`) }

// postmortemText writes p over the shipped en or ja draft.
func postmortemText(t testing.TB, p pm) string {
	t.Helper()
	lang := p.lang
	if lang == "" {
		lang = "en"
	}
	b, err := os.ReadFile("../../drafts/testdata/story." + lang + ".md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	null := func(v string) string {
		if v == "" {
			return "null"
		}
		return v
	}
	q := func(v string) string { return fmt.Sprintf("%q", v) }
	services := make([]string, len(p.services))
	for i, sv := range p.services {
		services[i] = q(sv)
	}
	status := p.status
	if status == "" {
		status = "draft"
	}
	for _, kv := range [][2]string{
		{"id", q(p.id)}, {"severity", q(p.severity)}, {"priority", "null"}, {"services", "[" + strings.Join(services, ", ") + "]"},
		{"started", null(p.started)}, {"detected", null(p.detected)}, {"acknowledged", null(p.acknowledged)},
		{"resolved", null(p.resolved)}, {"title", q(p.title)}, {"status", status},
		{"recommended", fmt.Sprint(p.recommended)},
	} {
		re := fmLine(kv[0])
		if !re.MatchString(s) {
			t.Fatalf("no %s line in the %s draft", kv[0], lang)
		}
		s = re.ReplaceAllLiteralString(s, kv[0]+": "+kv[1])
	}
	if p.review != "" {
		s = strings.Replace(s, "# postmortemd:end attributes\n", "review:\n"+p.review+"# postmortemd:end attributes\n", 1)
	}
	people := p.people
	if p.reason != "" {
		people += "recommended_reason: " + q(p.reason) + "\n"
	}
	s = strings.Replace(s, "\n---\n", "\n"+people+"---\n", 1)
	if p.synopsis != "" {
		hint := regexp.MustCompile(`(?m)^_(What happened|何が起き).*_$`)
		if !hint.MatchString(s) {
			t.Fatal("no synopsis hint in the draft")
		}
		s = hint.ReplaceAllLiteralString(s, p.synopsis)
	}
	return s
}

// writePostmortems writes each postmortem into a new drafts directory, one file each.
func writePostmortems(t testing.TB, pms ...pm) *drafts.Store {
	t.Helper()
	dir := t.TempDir()
	for _, p := range pms {
		if err := os.WriteFile(filepath.Join(dir, p.id+".md"), []byte(postmortemText(t, p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &drafts.Store{Dir: dir}
}

// newLibraryService serves a drafts directory.
func newLibraryService(t testing.TB, files *drafts.Store, o web.Options) (*service, *prometheus.Registry) {
	t.Helper()
	mr, store := newMiniStore(t, redisstore.Options{})
	reg := prometheus.NewRegistry()
	o.Store, o.Ready, o.Registry = store, store, reg
	o.Webhooks = receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)})
	o.Postmortems.Library = files
	srv := httptest.NewServer(web.New(o))
	t.Cleanup(srv.Close)
	return &service{Server: srv, mr: mr}, reg
}

// The library's postmortems: two recommended (one in Japanese), one reviewed but not
// recommended, one draft, and one recommended file copied by hand so its id is claimed twice.
func libraryPostmortems() []pm {
	return []pm{
		{id: "20261120-checkout-1", title: "Checkout <b>slow</b>: row locks", status: "published", recommended: true,
			reason: "Shows how a migration's locks look from the outside.", synopsis: "A schema migration held **row locks** for 20 minutes.",
			services: []string{"checkout", "orders-db"}, severity: "critical", started: "2026-11-20T10:00:00Z"},
		{id: "20261125-search-2", title: "検索の遅延", status: "reviewed", lang: "ja", recommended: true,
			reason: "アラートの閾値を見直した好例", synopsis: "検索が 15 分間遅くなった。",
			services: []string{"search"}, severity: "warning", started: "2026-11-25T08:00:00Z"},
		{id: "20261122-login-3", title: "Login errors \x01 after a deploy", status: "reviewed",
			services: []string{"login"}, started: "2026-11-22T09:00:00Z"},
		{id: "20261126-draft-4", title: "Still a draft", status: "draft", recommended: true, reason: "not yet",
			services: []string{"billing"}, started: "2026-11-26T09:00:00Z"},
	}
}

func TestLibraryPage(t *testing.T) {
	files := writePostmortems(t, libraryPostmortems()...)
	s, reg := newLibraryService(t, files, web.Options{})
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/library", nil)
	req.Header.Set("Accept", "text/html")
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /library: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Newest incident first: the draft (recommended too), the Japanese one, then checkout.
	order := []string{`data-postmortem="20261126-draft-4"`, `data-postmortem="20261125-search-2"`, `data-postmortem="20261120-checkout-1"`}
	last := -1
	for _, o := range order {
		i := strings.Index(body, o)
		if i < 0 || i < last {
			t.Fatalf("the reading list is not %v, newest first:\n%s", order, body)
		}
		last = i
	}
	for _, want := range []string{
		"Shows how a migration’s locks look from the outside.", // html/template escapes the quote
		"A schema migration held <strong>row locks</strong> for 20 minutes.",
		"Services: checkout, orders-db",
		"アラートの閾値を見直した好例", "検索が 15 分間遅くなった。",
		"Checkout &lt;b&gt;slow&lt;/b&gt;: row locks",
		`href="/library.atom"`,
		"No summary yet",
	} {
		if !strings.Contains(body, want) && !strings.Contains(body, strings.ReplaceAll(want, "’", "&#39;")) {
			t.Errorf("the reading list lacks %q", want)
		}
	}
	if strings.Contains(body, "20261122-login-3") {
		t.Error("a postmortem that is not recommended is on the reading list")
	}

	// At Accept-Language: ja the page's own words are Japanese; what people wrote stays as written.
	jaReq, _ := http.NewRequest(http.MethodGet, s.URL+"/library", nil)
	jaReq.Header.Set("Accept-Language", "ja")
	if resp, ja := do(t, jaReq); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /library in Japanese: %d", resp.StatusCode)
	} else {
		for _, want := range []string{"<h1>ライブラリ</h1>", "<strong>読む理由:</strong>", "サービス: checkout、orders-db",
			"ステータス: 公開済み", "「数文でまとめると」", "Shows how a migration"} {
			if !strings.Contains(ja, want) {
				t.Errorf("the Japanese reading list lacks %q", want)
			}
		}
		for _, reject := range []string{"<h1>Library</h1>", "Why read it", "Services:", "Status:", "No summary yet"} {
			if strings.Contains(ja, reject) {
				t.Errorf("the Japanese reading list has %q", reject)
			}
		}
	}

	// The list API says why, too.
	var list struct {
		Postmortems []struct {
			ID                string `json:"id"`
			RecommendedReason string `json:"recommended_reason"`
		} `json:"postmortems"`
	}
	getJSON(t, s, "/api/v1/postmortems?recommended=true", &list)
	if len(list.Postmortems) != 3 || list.Postmortems[2].RecommendedReason != "Shows how a migration's locks look from the outside." {
		t.Fatalf("list API: %+v", list)
	}

	// A recommended file copied by hand claims its id twice: the list still shows, and says so.
	src := filepath.Join(files.Dir, "20261120-checkout-1.md")
	b, _ := os.ReadFile(src)
	if err := os.WriteFile(filepath.Join(files.Dir, "copy-of-checkout.md"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "20261125-search-2") || !strings.Contains(body, "all have this id") {
		t.Fatalf("with a duplicated file: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(metricsText(t, reg), `postmortemd_postmortems_unreadable_total{view="library"} 2`) {
		t.Error("the unreadable postmortems are not counted")
	}
}

func TestFeedsParse(t *testing.T) {
	files := writePostmortems(t, libraryPostmortems()...)
	s, _ := newLibraryService(t, files, web.Options{Library: web.LibraryOptions{BaseURL: "https://pm.example.com/"}})
	// Each file's time is its entry's updated.
	for i, name := range []string{"20261120-checkout-1", "20261125-search-2", "20261122-login-3", "20261126-draft-4"} {
		mod := time.Date(2026, 11, 27, 10, i, 0, 0, time.UTC)
		if err := os.Chtimes(filepath.Join(files.Dir, name+".md"), mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	parse := func(path string) *atom.Feed {
		t.Helper()
		resp, body := s.get(t, path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
			t.Fatalf("GET %s: %d %s\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		generic, err := gofeed.NewParser().ParseString(body)
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", path, err, body)
		}
		if generic.FeedType != "atom" || generic.FeedVersion != "1.0" {
			t.Fatalf("%s is %s %s, want atom 1.0", path, generic.FeedType, generic.FeedVersion)
		}
		f, err := (&atom.Parser{}).Parse(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		// RFC 4287 4.1.1: a feed has an id, a title, updated and (without per-entry authors) an
		// author; each entry an id, a title, updated and, with no content src, a link.
		if f.ID != "https://pm.example.com"+path || f.Title == "" || f.UpdatedParsed == nil || len(f.Authors) == 0 {
			t.Fatalf("%s: feed metadata %+v", path, f)
		}
		if len(f.Links) != 1 || f.Links[0].Rel != "self" || f.Links[0].Href != "https://pm.example.com"+path {
			t.Fatalf("%s: self link %+v", path, f.Links)
		}
		for _, e := range f.Entries {
			if e.ID == "" || e.Title == "" || e.UpdatedParsed == nil || len(e.Links) == 0 || e.Links[0].Href != e.ID {
				t.Fatalf("%s: entry %+v", path, e)
			}
		}
		return f
	}
	ids := func(f *atom.Feed) []string {
		var out []string
		for _, e := range f.Entries {
			out = append(out, strings.TrimPrefix(e.ID, "https://pm.example.com/postmortems/"))
		}
		return out
	}

	all := parse("/postmortems.atom")
	if all.Title != "postmortemd: Postmortems" || all.Subtitle != "Every reviewed or published postmortem, newest incident first." {
		t.Errorf("/postmortems.atom title %q subtitle %q", all.Title, all.Subtitle)
	}
	if got, want := strings.Join(ids(all), " "), "20261125-search-2 20261122-login-3 20261120-checkout-1"; got != want {
		t.Fatalf("/postmortems.atom lists %s, want the reviewed and published ones, newest first: %s", got, want)
	}
	if !all.UpdatedParsed.Equal(time.Date(2026, 11, 27, 10, 2, 0, 0, time.UTC)) {
		t.Errorf("feed updated %v, want its newest entry's", all.UpdatedParsed)
	}
	login := all.Entries[1]
	if !strings.HasPrefix(login.Title, "Login errors ") || !strings.HasSuffix(login.Title, "after a deploy") {
		t.Errorf("a title with a control character: %q", login.Title)
	}
	checkout := all.Entries[2]
	if checkout.Title != "Checkout <b>slow</b>: row locks" || checkout.PublishedParsed == nil ||
		!checkout.PublishedParsed.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("checkout entry: title %q published %v", checkout.Title, checkout.PublishedParsed)
	}
	if c := checkout.Content; c == nil || c.Type != "html" || !strings.Contains(c.Value, "<strong>row locks</strong>") ||
		!strings.Contains(c.Value, "Services: checkout, orders-db") {
		t.Errorf("checkout content: %+v", checkout.Content)
	}

	lib := parse("/library.atom")
	if lib.Title != "postmortemd: Library: recommended postmortems" || lib.Subtitle != "The postmortems recommended for newcomers to read, with why." {
		t.Errorf("/library.atom title %q subtitle %q", lib.Title, lib.Subtitle)
	}
	if c := lib.Entries[2].Content; c == nil || !strings.Contains(c.Value, "<strong>Why read it:</strong>") || !strings.Contains(c.Value, "<li>Started: 2026-11-20 10:00 UTC</li>") {
		t.Errorf("the checkout entry's labels: %+v", lib.Entries[2].Content)
	}
	if got, want := strings.Join(ids(lib), " "), "20261126-draft-4 20261125-search-2 20261120-checkout-1"; got != want {
		t.Fatalf("/library.atom lists %s, want the recommended ones: %s", got, want)
	}
	if c := lib.Entries[1].Content; c == nil || !strings.Contains(c.Value, "アラートの閾値を見直した好例") || !strings.Contains(c.Value, "検索が 15 分間遅くなった。") {
		t.Errorf("the Japanese entry's content: %+v", lib.Entries[1].Content)
	}

	// A reader polling with the ETag gets 304 until something changes.
	resp, _ := s.get(t, "/library.atom")
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/library.atom", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: %d, want 304", resp.StatusCode)
	}

	// A document copied by hand (its id claimed twice) and a file that is not a postmortem never
	// break a feed: the others are still there.
	b, _ := os.ReadFile(filepath.Join(files.Dir, "20261125-search-2.md"))
	os.WriteFile(filepath.Join(files.Dir, "copy.md"), b, 0o644)
	os.WriteFile(filepath.Join(files.Dir, "broken.md"), []byte("---\nid: [\n---\n"), 0o644)
	if got := ids(parse("/postmortems.atom")); len(got) != 4 || got[3] != "20261120-checkout-1" {
		t.Fatalf("with a copied file: %v", got)
	}
}

func metricsText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName() + "{")
			for i, l := range m.GetLabel() {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%s=%q", l.GetName(), l.GetValue())
			}
			fmt.Fprintf(&b, "} %v\n", m.GetCounter().GetValue())
		}
	}
	return b.String()
}

// The feeds' own words are in the team's language (--draft-lang), or without one in the language
// the request asks for; a Japanese team's feed reader shows no English of postmortemd's.
func TestFeedsSpeakTheTeamsLanguage(t *testing.T) {
	files := writePostmortems(t, libraryPostmortems()...)
	team, _ := newLibraryService(t, files, web.Options{Library: web.LibraryOptions{Lang: i18n.Japanese}})
	follow, _ := newLibraryService(t, files, web.Options{})
	english := []string{"Postmortems", "Every reviewed", "Library:", "recommended postmortems", "newcomers",
		"Why read it", "No summary", "Status:", "Services:", "Severity:", "Started:", ">reviewed<", ">published<"}
	for _, tt := range []struct {
		name   string
		s      *service
		accept string
		vary   bool
	}{{"--draft-lang ja", team, "en-US,en", false}, {"Accept-Language ja", follow, "ja-JP,ja;q=0.9", true}} {
		t.Run(tt.name, func(t *testing.T) {
			for path, title := range map[string]string{
				"/postmortems.atom": "postmortemd: ポストモーテム", "/library.atom": "postmortemd: ライブラリ: おすすめのポストモーテム",
			} {
				req, _ := http.NewRequest(http.MethodGet, tt.s.URL+path, nil)
				req.Header.Set("Accept-Language", tt.accept)
				resp, body := do(t, req)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
				}
				if got := strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Language"); got != tt.vary {
					t.Errorf("%s: Vary lists Accept-Language %v, want %v", path, got, tt.vary)
				}
				f, err := gofeed.NewParser().ParseString(body)
				if err != nil {
					t.Fatalf("%s does not parse: %v", path, err)
				}
				if f.Title != title || !strings.HasSuffix(f.Description, "。") {
					t.Errorf("%s: title %q subtitle %q", path, f.Title, f.Description)
				}
				var text strings.Builder
				text.WriteString(f.Title + "\n" + f.Description + "\n")
				for _, it := range f.Items {
					text.WriteString(it.Content + "\n")
				}
				for _, w := range english {
					if strings.Contains(text.String(), w) {
						t.Errorf("%s says %q:\n%s", path, w, text.String())
					}
				}
				if !strings.Contains(text.String(), "ステータス:") {
					t.Errorf("%s: no Japanese labels:\n%s", path, text.String())
				}
			}
		})
	}
}
