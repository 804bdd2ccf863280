package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

const actionToken = "action-write-token"

// itemsService serves a drafts directory holding the edited postmortems of drafts/actions/testdata
// (as pm-en, pm-reordered and pm-ja), with the clock at 2026-12-03 in Tokyo.
type itemsService struct {
	*httptest.Server
	files *drafts.Store
}

// onSave, when set, runs before the library's Save: a test's concurrent edit.
type racingLibrary struct {
	*drafts.Store
	mu     sync.Mutex
	onSave func()
}

func (l *racingLibrary) Save(id string, content []byte, ifMatch string) (drafts.Document, error) {
	l.mu.Lock()
	f := l.onSave
	l.onSave = nil
	l.mu.Unlock()
	if f != nil {
		f()
	}
	return l.Store.Save(id, content, ifMatch)
}

func newItemsService(t *testing.T) (*itemsService, *racingLibrary) {
	t.Helper()
	_, store := newMiniStore(t, redisstore.Options{})
	files := &drafts.Store{Dir: t.TempDir()}
	for name, id := range map[string]string{"filled.en.md": "pm-en", "reordered.en.md": "pm-reordered", "edited.ja.md": "pm-ja"} {
		b, err := os.ReadFile("../../drafts/actions/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		doc := strings.Replace(string(b), `id: "20261123-highlatency-5eed0001"`, "id: "+id, 1)
		if !strings.Contains(doc, "id: "+id) {
			t.Fatalf("%s: no id line", name)
		}
		if err := os.WriteFile(files.Dir+"/"+id+".md", []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	lib := &racingLibrary{Store: files}
	reg := prometheus.NewRegistry()
	rcv := receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)})
	srv := httptest.NewServer(web.New(web.Options{Store: store, Ready: store, Registry: reg, Webhooks: rcv,
		Postmortems: web.PostmortemOptions{Library: lib},
		Notes: web.NoteOptions{WriteToken: actionToken, People: []timeline.Participant{
			{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "database on-call"}}},
		ActionItems: web.ActionItemOptions{Location: tokyo, Now: func() time.Time { return time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC) }},
	}))
	t.Cleanup(srv.Close)
	return &itemsService{Server: srv, files: files}, lib
}

type apiItem struct {
	ID           string  `json:"id"`
	PostmortemID string  `json:"postmortem_id"`
	Action       string  `json:"action"`
	Owner        *string `json:"owner"`
	Due          *string `json:"due"`
	Horizon      *string `json:"horizon"`
	Status       string  `json:"status"`
	Reason       string  `json:"reason"`
	Overdue      bool    `json:"overdue"`
	Changes      []struct {
		At     time.Time `json:"at"`
		Field  string    `json:"field"`
		From   string    `json:"from"`
		To     string    `json:"to"`
		Reason string    `json:"reason"`
	} `json:"history"`
	Problems []string `json:"problems"`
	HTMLURL  string   `json:"html_url"`
}

func (s *itemsService) do(t *testing.T, method, path, body string, auth bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+actionToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *itemsService) list(t *testing.T, query string) []apiItem {
	t.Helper()
	code, body := s.do(t, http.MethodGet, "/api/v1/action-items"+query, "", false)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", query, code, body)
	}
	var out struct {
		ActionItems []apiItem `json:"action_items"`
		Total       int       `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if out.Total != len(out.ActionItems) {
		t.Fatalf("total %d, %d items", out.Total, len(out.ActionItems))
	}
	return out.ActionItems
}

func actionsOf(items []apiItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Action)
	}
	return out
}

func TestActionItemsList(t *testing.T) {
	s, _ := newItemsService(t)
	all := s.list(t, "")
	if len(all) != 12 {
		t.Fatalf("%d items, want 12: %q", len(all), actionsOf(all))
	}
	// Overdue first (by due date), then the rest by due date, items without one last.
	wantOrder := []string{
		"Add a runbook step for draining the payment queue",     // 2026-11-20, overdue
		"**Alert** on queue depth, not only on latency",         // 2026-12-01, overdue
		"キュー滞留のアラートを追加する",                                       // 2026-12-05
		"Alert on checkout p99 latency above 2 s for 5 minutes", // 2026-12-10
	}
	open := s.list(t, "?status=open")
	for i, w := range wantOrder {
		if open[i].Action != w {
			t.Errorf("open item %d is %q, want %q", i, open[i].Action, w)
		}
	}
	if !open[0].Overdue || !open[1].Overdue || open[2].Overdue || !all[0].Overdue || !all[1].Overdue || all[2].Overdue {
		t.Errorf("overdue items do not come first: %q", actionsOf(all))
	}
	if last := all[len(all)-1]; last.Due != nil {
		t.Errorf("the last item has a due date %v; items without one come last", *last.Due)
	}
	if all[0].Owner == nil || *all[0].Owner != "database on-call" || all[0].HTMLURL != "/postmortems/pm-en" {
		t.Errorf("a person's name is not shown as the role: %+v", all[0])
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?overdue=true", wantOrder[:2]},
		{"?status=done", []string{"Page the secondary after 10 minutes without acknowledgement", "フェイルオーバー手順を更新する"}},
		{"?status=wont_do&postmortem=pm-ja", []string{"旧チェックアウト経路を廃止する"}},
		{"?owner=Database%20On-Call&status=open", wantOrder[:2]},
		{"?due_before=2026-12-01", []string{"Add a runbook step for draining the payment queue", "Load test the new broker `a|b` config",
			"Page the secondary after 10 minutes without acknowledgement", "フェイルオーバー手順を更新する"}},
		{"?horizon=long&status=open", []string{"Move the payment queue to a managed broker"}},
		{"?service=checkout&postmortem=pm-reordered&status=wont_do", []string{"Load test the new broker `a|b` config"}},
		{"?service=search", nil},
	} {
		got := actionsOf(s.list(t, tc.query))
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tc.query, got, tc.want)
		}
	}
	for _, bad := range []string{"?status=closed", "?overdue=yes", "?due_before=tomorrow", "?horizon=medium"} {
		if code, body := s.do(t, http.MethodGet, "/api/v1/action-items"+bad, "", false); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", bad, code, body)
		}
	}
}

func TestActionItemPatch(t *testing.T) {
	s, _ := newItemsService(t)
	item := s.list(t, "?postmortem=pm-en&overdue=true")[0]
	path := "/api/v1/action-items/" + item.ID

	if code, _ := s.do(t, http.MethodPatch, path, `{"due":"2026-12-20","reason":"x"}`, false); code != http.StatusUnauthorized {
		t.Errorf("without the write token: %d, want 401", code)
	}
	code, body := s.do(t, http.MethodPatch, path, `{"due":"2026-12-20"}`, true)
	if code != http.StatusBadRequest || !strings.Contains(body, "reason") {
		t.Errorf("moving due without a reason: %d %s, want 400 naming reason", code, body)
	}
	code, body = s.do(t, http.MethodPatch, path, `{"status":"wont_do"}`, true)
	if code != http.StatusBadRequest || !strings.Contains(body, "reason") {
		t.Errorf("won't do without a reason: %d %s, want 400 naming reason", code, body)
	}
	for _, bad := range []string{`{"due":"20 Dec"}`, `{"status":"later"}`, `{}`, `{"colour":"red"}`, `{"due":""}`} {
		if code, body := s.do(t, http.MethodPatch, path, bad, true); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", bad, code, body)
		}
	}
	if code, _ := s.do(t, http.MethodPatch, "/api/v1/action-items/000000000000", `{"status":"done"}`, true); code != http.StatusNotFound {
		t.Errorf("unknown item: %d, want 404", code)
	}

	code, body = s.do(t, http.MethodPatch, path, `{"due":"2026-12-20","reason":"the queue migration moved to next sprint"}`, true)
	if code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	var got apiItem
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != item.ID || got.Due == nil || *got.Due != "2026-12-20" || got.Overdue || len(got.Changes) != 1 ||
		got.Changes[0].From != "2026-11-20" || got.Changes[0].Reason != "the queue migration moved to next sprint" {
		t.Errorf("PATCH answered %s", body)
	}
	// The document itself shows it to a reader, and the list shows the same item.
	doc, err := s.files.Get("pm-en")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc.Content), "due 2026-11-20 → 2026-12-20 · the queue migration moved to next sprint · Add a runbook step") {
		t.Errorf("the document does not show the renegotiation")
	}
	if strings.Contains(string(doc.Content), "Dana Okafor") {
		t.Errorf("the person's name is still in the document")
	}
	again := s.list(t, "?postmortem=pm-en&due_before=2026-12-21&owner=database%20on-call")
	if len(again) != 1 || again[0].ID != item.ID || len(again[0].Changes) != 1 {
		t.Errorf("after PATCH the list shows %+v", again)
	}

	code, body = s.do(t, http.MethodPatch, path, `{"status":"wont_do","reason":"the managed broker drains itself"}`, true)
	if code != http.StatusOK || !strings.Contains(body, `"status":"wont_do"`) || !strings.Contains(body, `"reason":"the managed broker drains itself"`) {
		t.Errorf("won't do: %d %s", code, body)
	}
}

// A person's edit of the postmortem that lands between the PATCH's read and write is kept, and so
// is the PATCH: it reads the new version and applies itself again.
func TestActionItemPatchKeepsAConcurrentEdit(t *testing.T) {
	s, lib := newItemsService(t)
	item := s.list(t, "?postmortem=pm-en&overdue=true")[0]
	lib.mu.Lock()
	lib.onSave = func() {
		doc, err := s.files.Get("pm-en")
		if err != nil {
			t.Error(err)
			return
		}
		edited := strings.Replace(string(doc.Content), "### In a few sentences\n", "### In a few sentences\n\nThe payment queue backed up for an hour.\n", 1)
		if _, err := s.files.Save("pm-en", []byte(edited), doc.ETag); err != nil {
			t.Error(err)
		}
	}
	lib.mu.Unlock()
	code, body := s.do(t, http.MethodPatch, "/api/v1/action-items/"+item.ID, `{"status":"done"}`, true)
	if code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	doc, _ := s.files.Get("pm-en")
	if !strings.Contains(string(doc.Content), "The payment queue backed up for an hour.") {
		t.Error("the concurrent edit was lost")
	}
	if it := s.list(t, "?postmortem=pm-en&status=done"); len(it) != 2 {
		t.Errorf("the PATCH was lost: done items %q", actionsOf(it))
	}
}

// Many PATCHes and edits through PUT at once: every one of them is in the final document.
func TestActionItemPatchesAndEditsAtOnce(t *testing.T) {
	s, _ := newItemsService(t)
	items := s.list(t, "?postmortem=pm-en&status=open")
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if code, body := s.do(t, http.MethodPatch, "/api/v1/action-items/"+it.ID, `{"status":"done"}`, true); code != http.StatusOK {
				t.Errorf("PATCH %s: %d %s", it.ID, code, body)
			}
		}()
		go func() {
			defer wg.Done()
			for {
				doc, err := s.files.Get("pm-en")
				if err != nil {
					t.Error(err)
					return
				}
				edited := strings.Replace(string(doc.Content), "### What the timeline does not show\n",
					"### What the timeline does not show\n\n- edit "+string(rune('A'+i))+"\n", 1)
				if _, err := s.files.Save("pm-en", []byte(edited), doc.ETag); err == nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	doc, _ := s.files.Get("pm-en")
	for i := range items {
		if !strings.Contains(string(doc.Content), "- edit "+string(rune('A'+i))+"\n") {
			t.Errorf("edit %c lost", 'A'+i)
		}
	}
	if open := s.list(t, "?postmortem=pm-en&status=open"); len(open) != 0 {
		t.Errorf("PATCHes lost: still open %q", actionsOf(open))
	}
}

func TestActionItemsPage(t *testing.T) {
	s, _ := newItemsService(t)
	code, body := s.do(t, http.MethodGet, "/action-items", "", false)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, want := range []string{
		`<h2 id="owner-0">database on-call <small>(2 overdue)</small></h2>`,
		`<a href="/postmortems/pm-en">`,
		"Move the payment queue to a managed broker",
		"No owner yet",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "Page the secondary after 10 minutes") || strings.Contains(body, "旧チェックアウト経路を廃止する") {
		t.Error("the page lists done or won't-do items")
	}

	// At Accept-Language: ja the page's own words are Japanese; roles and actions stay as written.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/action-items", nil)
	req.Header.Set("Accept-Language", "ja")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ja := string(b)
	for _, want := range []string{"<h1>アクションアイテム</h1>", `database on-call <small>（期限切れ 2 件）</small>`, "担当未定",
		`<th scope="col">期日</th>`, "Move the payment queue to a managed broker", "年"} {
		if !strings.Contains(ja, want) {
			t.Errorf("the Japanese page lacks %q", want)
		}
	}
	if !strings.Contains(ja, "<td>担当者がいない、期日がない</td>") || !strings.Contains(body, "<td>no owner; no due date</td>") ||
		!strings.Contains(ja, "期日「next week」が日付ではない（YYYY-MM-DD で書く）") {
		t.Error("the item without an owner does not say so in the reader's language")
	}
	for _, reject := range []string{"<h1>Action items</h1>", "No owner yet", " overdue", ">overdue<", ">Due<", "Open items", "no owner", "no due date"} {
		if strings.Contains(ja, reject) {
			t.Errorf("the Japanese page has %q", reject)
		}
	}
}

// The postmortem's lint reports its action items' problems.
func TestPostmortemLintReportsActionItems(t *testing.T) {
	s, _ := newItemsService(t)
	code, body := s.do(t, http.MethodGet, "/api/v1/postmortems/pm-reordered/lint", "", false)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, rule := range []string{`"rule":"action-item-owner"`, `"rule":"action-item-due"`, `"rule":"action-item-reason"`} {
		if !strings.Contains(body, rule) {
			t.Errorf("lint lacks %s: %s", rule, body)
		}
	}
}
