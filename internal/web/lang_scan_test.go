package web_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/web"
)

// englishPhrases are the literal phrases of the English catalogue (the words between its
// placeholders) of two words or more that the Japanese catalogue does not use too: a Japanese
// page that contains one shows words postmortemd wrote in English.
func englishPhrases(t *testing.T) []string {
	t.Helper()
	read := func(lang string) map[string]any {
		b, err := os.ReadFile("../i18n/messages/" + lang + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	texts := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case map[string]any:
			var out []string
			for _, f := range v {
				if s, ok := f.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	var ja strings.Builder
	for _, v := range read("ja") {
		for _, s := range texts(v) {
			ja.WriteString(s + "\n")
		}
	}
	placeholder := regexp.MustCompile(`\{\{.*?\}\}`)
	twoWords := regexp.MustCompile(`[A-Za-z]{2,}[ '’-]+[A-Za-z]{2,}`)
	seen := map[string]bool{}
	var out []string
	for id, v := range read("en") {
		if strings.HasPrefix(id, "format.") { // date layouts, not words
			continue
		}
		for _, s := range texts(v) {
			for _, frag := range placeholder.Split(s, -1) {
				frag = strings.TrimSpace(strings.Trim(strings.TrimSpace(frag), `.,:;()"“”`))
				if !twoWords.MatchString(frag) || strings.Contains(ja.String(), frag) || seen[frag] {
					continue
				}
				seen[frag] = true
				out = append(out, frag)
			}
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d English phrases: the catalogue was not read as expected", len(out))
	}
	return out
}

var (
	// Scripts, styles, and the editor's text areas (the document as people and the draft wrote it).
	scriptOrStyle = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<textarea.*?</textarea>`)
	// The attributes a reader sees or hears, and the words the page's scripts write.
	readerAttr = regexp.MustCompile(`(?:alt|title|aria-label|placeholder|data-words|data-zone-label)="([^"]*)"`)
	tag        = regexp.MustCompile(`<[^>]+>`)
)

// readerText is what a reader of an HTML page reads or hears, and the words its scripts will
// write, with senders' and people's words (given) taken out.
func readerText(page string, theirs ...string) string {
	page = scriptOrStyle.ReplaceAllString(page, "")
	var b strings.Builder
	for _, m := range readerAttr.FindAllStringSubmatch(page, -1) {
		v := html.UnescapeString(m[1])
		var words map[string]string
		if json.Unmarshal([]byte(v), &words) == nil {
			for k, w := range words {
				if !strings.HasSuffix(k, ".en") { // the English words a script matches stored flags by
					b.WriteString(w + "\n")
				}
			}
			continue
		}
		b.WriteString(v + "\n")
	}
	b.WriteString(html.UnescapeString(tag.ReplaceAllString(page, "\n")))
	s := b.String()
	for _, w := range theirs {
		s = strings.ReplaceAll(s, w, "")
	}
	return s
}

// A Japanese reader's every page, and its error pages, hold none of the English catalogue's
// phrases: whatever postmortemd writes on them is in Japanese. (What senders and people wrote
// stays as written, and the fixtures' own English is taken out before the scan.)
func TestJapanesePagesHaveNoEnglishCatalogueWords(t *testing.T) {
	phrases := englishPhrases(t)
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	lib := &fakeLibrary{docs: map[string]drafts.Document{}}
	follow := newPageService(t, web.Options{Pages: web.PageOptions{Now: func() time.Time { return at }},
		Postmortems: web.PostmortemOptions{Library: lib}})
	id := follow.alert(t, amFixture(t, "01-first-firing.json"))
	lib.docs[id] = drafts.Document{Summary: drafts.Summary{ID: id, Title: "Checkout latency", Status: "in-review"},
		Content: []byte(langPostmortem(id))}
	reviewSrv, _ := lateReview(t)
	items, _ := newItemsService(t)
	insightsSrv, _ := newLibraryService(t, writePostmortems(t, insightPostmortems()...), web.Options{Insights: web.InsightsOptions{Now: func() time.Time { return insightsNow }}})
	librarySrv, _ := newLibraryService(t, writePostmortems(t, libraryPostmortems()...), web.Options{})

	// The fixtures' own words: the postmortem's text, the late review's stored reason, the
	// action items' and the library's documents, as their authors wrote them.
	theirs := []string{"The on-call engineer should have noticed it sooner; a careless mistake.",
		"No free slot in working hours (Mon-Fri 10:00–18:00 Asia/Tokyo) between 2h and 24h after the resolution.",
		"database on-call", "SRE on-call for payments", "primary on-call for checkout", "not yet"}
	for _, tt := range []struct {
		name, base, path string
		status           int
	}{
		{"incident list", follow.URL, "/incidents", 200},
		{"incident page", follow.URL, "/incidents/" + id, 200},
		{"postmortem list", follow.URL, "/postmortems", 200},
		{"postmortem", follow.URL, "/postmortems/" + id, 200},
		{"editor", follow.URL, "/postmortems/" + id + "/edit", 200},
		{"review page", reviewSrv.URL, "/incidents/inc-1/review", 200},
		{"action items", items.URL, "/action-items", 200},
		{"insights", insightsSrv.URL, "/insights?service=checkout", 200},
		{"library", librarySrv.URL, "/library", 200},
		{"an incident that does not exist", follow.URL, "/incidents/no-such-incident", 404},
		{"a page that does not exist", follow.URL, "/no-such-page", 404},
		{"a filter value the insights cannot use", insightsSrv.URL, "/insights?from=yesterday", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.base+tt.path, nil)
			req.Header.Set("Accept", "text/html")
			req.Header.Set("Accept-Language", "ja")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			text := readerText(string(b), theirs...)
			for _, p := range phrases {
				if strings.Contains(text, p) {
					t.Errorf("the Japanese page says %q", p)
				}
			}
		})
	}
}
