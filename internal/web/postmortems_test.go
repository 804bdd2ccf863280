package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// draftedService is the service with a drafts directory, after a captured Alertmanager incident
// fired, resolved and settled, and the drafts worker wrote its draft.
type draftedService struct {
	*service
	incidentID string
	files      *drafts.Store
}

func newDraftedService(t *testing.T, notes web.NoteOptions) *draftedService {
	t.Helper()
	mr, store := newMiniStore(t, redisstore.Options{ResolveGrace: time.Second})
	reg := prometheus.NewRegistry()
	files := &drafts.Store{Dir: t.TempDir()}
	rcv := receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)})
	srv := httptest.NewServer(web.New(web.Options{Store: store, Ready: store, Webhooks: rcv, Registry: reg,
		Postmortems: web.PostmortemOptions{Library: files}, Notes: notes}))
	t.Cleanup(srv.Close)
	s := &draftedService{service: &service{Server: srv, mr: mr}, files: files}
	for _, f := range []string{"01-first-firing.json", "04-all-resolved.json"} {
		if resp, body := s.post(t, "/webhook/alertmanager", fixture(t, f), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", f, resp.StatusCode, body)
		}
	}
	var list struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	getJSON(t, s.service, "/api/v1/incidents?status=resolved", &list)
	if len(list.Incidents) != 1 {
		t.Fatalf("incidents %+v", list)
	}
	s.incidentID = list.Incidents[0].ID
	// Before the draft exists the incident has no postmortem link and the postmortem is 404.
	var inc map[string]any
	getJSON(t, s.service, "/api/v1/incidents/"+s.incidentID, &inc)
	if _, ok := inc["postmortem"]; ok {
		t.Fatalf("incident links a postmortem before it is written: %v", inc["postmortem"])
	}
	if resp, _ := s.get(t, "/api/v1/postmortems/"+s.incidentID); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("postmortem before drafting: %d, want 404", resp.StatusCode)
	}
	renderer, err := drafts.NewRenderer("en", "")
	if err != nil {
		t.Fatal(err)
	}
	w := drafts.NewWorker(drafts.WorkerOptions{Store: store, Renderer: renderer, Files: files,
		Now: func() time.Time { return time.Now().Add(time.Minute) }})
	if err := w.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *draftedService) request(t *testing.T, method, path, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

type postmortemListing struct {
	Postmortems []struct {
		ID          string   `json:"id"`
		Title       string   `json:"title"`
		Status      string   `json:"status"`
		Services    []string `json:"services"`
		Tags        []string `json:"tags"`
		Recommended bool     `json:"recommended"`
		URL         string   `json:"url"`
		HTMLURL     string   `json:"html_url"`
	} `json:"postmortems"`
	Total int `json:"total"`
}

func TestPostmortemsAPI(t *testing.T) {
	s := newDraftedService(t, web.NoteOptions{})
	id := s.incidentID

	var inc struct {
		Postmortem struct {
			ID, Status, URL, HTMLURL string
		} `json:"postmortem"`
	}
	getJSON(t, s.service, "/api/v1/incidents/"+id, &inc)
	if inc.Postmortem.ID != id || inc.Postmortem.URL != "/api/v1/postmortems/"+id || inc.Postmortem.Status != "draft" {
		t.Fatalf("incident's postmortem link %+v", inc.Postmortem)
	}

	var incs struct {
		Incidents []struct {
			ID         string `json:"id"`
			Postmortem *struct {
				URL string `json:"url"`
			} `json:"postmortem"`
		} `json:"incidents"`
	}
	getJSON(t, s.service, "/api/v1/incidents", &incs)
	if len(incs.Incidents) != 1 || incs.Incidents[0].Postmortem == nil || incs.Incidents[0].Postmortem.URL != inc.Postmortem.URL {
		t.Fatalf("the incident list does not link the postmortem: %+v", incs)
	}
	var tl struct {
		Incident struct {
			Postmortem *struct {
				URL string `json:"url"`
			} `json:"postmortem"`
		} `json:"incident"`
	}
	getJSON(t, s.service, "/api/v1/incidents/"+id+"/timeline", &tl)
	if tl.Incident.Postmortem == nil || tl.Incident.Postmortem.URL != inc.Postmortem.URL {
		t.Fatalf("the timeline's incident does not link the postmortem: %+v", tl)
	}
	if resp, body := s.get(t, "/api/v1/postmortems?status=bogus"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "in-review") {
		t.Fatalf("status=bogus: %d %s, want 400 naming the statuses", resp.StatusCode, body)
	}

	var list postmortemListing
	getJSON(t, s.service, "/api/v1/postmortems", &list)
	if list.Total != 1 || list.Postmortems[0].ID != id || list.Postmortems[0].Status != "draft" ||
		list.Postmortems[0].Recommended || list.Postmortems[0].HTMLURL != "/postmortems/"+id {
		t.Fatalf("list %+v", list)
	}

	resp, md := s.get(t, inc.Postmortem.URL)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/markdown") || etag == "" {
		t.Fatalf("GET postmortem: %d %s etag %q", resp.StatusCode, resp.Header.Get("Content-Type"), etag)
	}
	for _, part := range []string{"## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "HighLatency"} {
		if !strings.Contains(md, part) {
			t.Fatalf("the draft lacks %q", part)
		}
	}
	if resp, _ := s.request(t, http.MethodGet, inc.Postmortem.URL, "", map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match current: %d, want 304", resp.StatusCode)
	}

	edited := strings.Replace(strings.Replace(strings.Replace(md, "status: draft", "status: in-review", 1),
		"tags: []", "tags: [latency, checkout-team]", 1), "recommended: false", "recommended: true", 1)
	edited = strings.Replace(edited, "## 2. Summary", "## 2. Summary\n\nCheckout was slow for 4 minutes; 3% of orders failed.\n", 1)

	t.Run("PUT without If-Match is 428", func(t *testing.T) {
		resp, body := s.request(t, http.MethodPut, inc.Postmortem.URL, edited, nil)
		if resp.StatusCode != http.StatusPreconditionRequired || !strings.Contains(body, "If-Match") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("PUT with front matter that does not parse is 400 naming the line", func(t *testing.T) {
		broken := strings.Replace(edited, "status: in-review", "status: in-review: oops", 1)
		resp, body := s.request(t, http.MethodPut, inc.Postmortem.URL, broken, map[string]string{"If-Match": etag})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "line ") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("concurrent PUTs on one version: one wins, the others get 412", func(t *testing.T) {
		const n = 6
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := edited
				if i > 0 {
					body = strings.Replace(edited, "3% of orders failed", "someone else's numbers", 1)
				}
				req, _ := http.NewRequest(http.MethodPut, s.URL+inc.Postmortem.URL, strings.NewReader(body))
				req.Header.Set("If-Match", etag)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		ok, stale := 0, 0
		for _, c := range codes {
			switch c {
			case http.StatusOK:
				ok++
			case http.StatusPreconditionFailed:
				stale++
			}
		}
		if ok != 1 || stale != n-1 {
			t.Fatalf("codes %v: want one 200 and %d 412", codes, n-1)
		}
	})
	t.Run("the list shows what people wrote", func(t *testing.T) {
		var l postmortemListing
		getJSON(t, s.service, "/api/v1/postmortems?status=in-review&recommended=true&tag=latency&service=checkout&q=highlatency+p99", &l)
		if l.Total != 1 || !l.Postmortems[0].Recommended {
			t.Fatalf("filtered list %+v", l)
		}
		getJSON(t, s.service, "/api/v1/postmortems?status=draft", &l)
		if l.Total != 0 {
			t.Fatalf("status=draft after the edit: %+v", l)
		}
		if resp, body := s.get(t, "/api/v1/postmortems?recommended=maybe"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("recommended=maybe: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("a PUT with the ETag just read succeeds and returns the new one", func(t *testing.T) {
		resp, _ := s.get(t, inc.Postmortem.URL)
		cur := resp.Header.Get("ETag")
		again := strings.Replace(edited, "status: in-review", "status: reviewed", 1)
		resp, body := s.request(t, http.MethodPut, inc.Postmortem.URL, again, map[string]string{"If-Match": cur})
		var got struct{ Status string }
		_ = json.Unmarshal([]byte(body), &got)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == cur || got.Status != "reviewed" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("an address written into the draft is replaced before it is stored", func(t *testing.T) {
		resp, cur := s.get(t, inc.Postmortem.URL)
		withMail := strings.Replace(cur, "3% of orders failed", "3% of orders failed (ask dana.okafor@example.com)", 1)
		withMail = strings.Replace(withMail, "someone else's numbers", "someone else's numbers (ask dana.okafor@example.com)", 1)
		resp, body := s.request(t, http.MethodPut, inc.Postmortem.URL, withMail, map[string]string{"If-Match": resp.Header.Get("ETag")})
		var got struct {
			NamesReplaced int `json:"names_replaced"`
		}
		_ = json.Unmarshal([]byte(body), &got)
		if resp.StatusCode != http.StatusOK || got.NamesReplaced != 1 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if _, stored := s.get(t, inc.Postmortem.URL); strings.Contains(stored, "dana.okafor") {
			t.Fatal("the stored postmortem carries the address")
		}
	})
	t.Run("unknown postmortem is 404", func(t *testing.T) {
		if resp, _ := s.get(t, "/api/v1/postmortems/nope"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%d", resp.StatusCode)
		}
		if resp, _ := s.request(t, http.MethodPut, "/api/v1/postmortems/nope", edited, map[string]string{"If-Match": "*"}); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

// With a write token configured, an edit needs it; reading does not.
func TestPostmortemEditsNeedTheWriteToken(t *testing.T) {
	s := newDraftedService(t, web.NoteOptions{WriteToken: "edit-secret"})
	path := "/api/v1/postmortems/" + s.incidentID
	resp, md := s.get(t, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	etag := resp.Header.Get("ETag")
	edited := strings.Replace(md, "status: draft", "status: in-review", 1)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", map[string]string{"If-Match": etag}, http.StatusUnauthorized},
		{"wrong token", map[string]string{"If-Match": etag, "Authorization": "Bearer nope"}, http.StatusUnauthorized},
		{"the write token (a bearer token is no CSRF risk, whatever the site)", map[string]string{"If-Match": etag, "Authorization": "Bearer edit-secret", "Sec-Fetch-Site": "cross-site"}, http.StatusOK},
		{"the write token again on the old ETag", map[string]string{"If-Match": etag, "Authorization": "Bearer edit-secret"}, http.StatusPreconditionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.request(t, http.MethodPut, path, edited, tc.hdr)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
}
