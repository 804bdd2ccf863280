//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

func (s *e2eService) do(method, path, body string, hdr map[string]string) (*http.Response, string, error) {
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// humanPart is a draft without its machine-owned blocks: what people own.
func humanPart(md string) string {
	var out []string
	in := false
	for _, l := range strings.SplitAfter(md, "\n") {
		switch {
		case strings.HasPrefix(l, "# postmortemd:begin ") || strings.HasPrefix(l, "<!-- postmortemd:begin "):
			in = true
		case strings.HasPrefix(l, "# postmortemd:end ") || strings.HasPrefix(l, "<!-- postmortemd:end "):
			in = false
		case !in:
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// The "done when": a real Alertmanager incident resolves; within the grace window a draft
// with all five parts is written, listed, and edited over HTTP without lost updates; the incident
// reopens (PagerDuty) and resolves again, and the new draft keeps every human edit.
func TestE2E_ResolvedIncidentGetsADraftThatKeepsHumanEdits(t *testing.T) {
	e2eTest(t)
	const secret = "e2e-drafts-secret"
	rds := testenv.StartRedis(t)
	svc := startE2EService(t, rds.URL(), "--resolve-grace", "2s", "--pagerduty-secret", secret)
	am := testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{Receivers: []testenv.WebhookReceiver{
		{Name: "postmortemd", URL: svc.webhook(), SendResolved: true},
	}})
	alert := e2eAlert("CheckoutDraftE2E", "inst-1", "critical", "p99 latency above 2s", time.Now().Add(-2*time.Minute))
	e2ePost(t, []*testenv.Alertmanager{am}, alert)
	var inc e2eIncident
	e2eEventually(t, 20*time.Second, "the incident opens", func() error {
		incs, err := svc.incidents("open", "")
		if err != nil || len(incs) != 1 {
			return fmt.Errorf("incidents %v %v", incs, err)
		}
		inc = incs[0]
		return nil
	})
	sum := sha256.Sum256([]byte(inc.Sources["alertmanager.group_key"]))
	key := hex.EncodeToString(sum[:]) // Alertmanager's dedup key for PagerDuty (proved in pagerduty_e2e_test.go)
	e2eSignedPagerDuty(t, svc, secret, "01-triggered.json", key, time.Time{})
	e2eSignedPagerDuty(t, svc, secret, "02-acknowledged.json", key, time.Time{})

	resolvedAt := time.Now()
	e2ePost(t, []*testenv.Alertmanager{am}, e2eResolve(alert, resolvedAt))
	e2eEventually(t, 20*time.Second, "the incident resolves", func() error {
		incs, err := svc.incidents("resolved", "")
		if err != nil || len(incs) != 1 {
			return fmt.Errorf("resolved incidents %v %v", incs, err)
		}
		return nil
	})
	path := "/api/v1/postmortems/" + inc.ID
	var md, etag string
	e2eEventually(t, 15*time.Second, "the draft is written and linked from the incident", func() error {
		var view struct {
			Postmortem *struct {
				URL string `json:"url"`
			} `json:"postmortem"`
		}
		if err := svc.getJSON("/api/v1/incidents/"+inc.ID, &view); err != nil {
			return err
		}
		if view.Postmortem == nil || view.Postmortem.URL != path {
			return fmt.Errorf("no postmortem link yet")
		}
		resp, body, err := svc.do(http.MethodGet, path, "", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %v %v", path, resp, err)
		}
		md, etag = body, resp.Header.Get("ETag")
		return nil
	})
	t.Logf("draft written %s after the resolution", time.Since(resolvedAt).Round(time.Second))
	for _, part := range []string{"## 1. Incident attributes", "## 2. Summary", "## 3. Walkthrough",
		"## 4. Cognition and process", "## 5. Action items", "CheckoutDraftE2E", "p99 latency above 2s",
		"incident_status: resolved"} {
		if !strings.Contains(md, part) {
			t.Fatalf("the draft lacks %q:\n%s", part, md)
		}
	}
	var list struct {
		Postmortems []struct{ ID string } `json:"postmortems"`
	}
	if err := svc.getJSON("/api/v1/postmortems?service=&q=CheckoutDraftE2E", &list); err != nil || len(list.Postmortems) != 1 || list.Postmortems[0].ID != inc.ID {
		t.Fatalf("the list does not find the draft: %+v %v", list, err)
	}

	// Edit over HTTP; a second edit made on the same version is refused, not merged blindly.
	edited := strings.Replace(md, "status: draft", "status: in-review", 1)
	edited = strings.Replace(edited, "_What happened, what was done, and what we learnt, for someone who was not there._",
		"A cache node restarted during peak; checkout p99 rose above 2 s for about two minutes.  \n顧客への影響は小さかった。", 1)
	if resp, body, err := svc.do(http.MethodPut, path, edited, map[string]string{"If-Match": etag}); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %v %s %v", resp, body, err)
	}
	if resp, body, err := svc.do(http.MethodPut, path, md, map[string]string{"If-Match": etag}); err != nil || resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("stale PUT: %v %s %v, want 412", resp, body, err)
	}

	// PagerDuty reopens the incident and it resolves again.
	e2eSignedPagerDuty(t, svc, secret, "13-reopened.json", key, time.Now())
	e2eSignedPagerDuty(t, svc, secret, "14-resolved-again.json", key, time.Now().Add(time.Second))
	var final string
	e2eEventually(t, 20*time.Second, "the draft is brought up to date with the reopening", func() error {
		resp, body, err := svc.do(http.MethodGet, path, "", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %v %v", path, resp, err)
		}
		if !strings.Contains(body, "Reopened") && !strings.Contains(body, "reopened") || body == edited {
			return fmt.Errorf("not redrafted yet")
		}
		final = body
		return nil
	})
	if humanPart(final) != humanPart(edited) {
		t.Fatalf("the second resolution changed what people wrote:\n--- edited\n%s\n--- now\n%s", humanPart(edited), humanPart(final))
	}
	dir, err := os.ReadDir(svc.draftsDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range dir {
		if strings.Contains(de.Name(), ".regenerated-") {
			t.Fatalf("a version was written beside the draft (%s): the merge should have been safe", de.Name())
		}
	}
}

// A browser watching an incident live must not hold shutdown for its whole timeout: SIGTERM ends
// the event streams at once and the process exits cleanly.
func TestE2E_ShutdownEndsLiveEventStreams(t *testing.T) {
	e2eTest(t)
	svc := startE2EService(t, "")
	raw, err := os.ReadFile("../../receiver/testdata/alertmanager/v0.25.0/01-first-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body, err := svc.do(http.MethodPost, "/webhook/alertmanager", string(raw), map[string]string{"Content-Type": "application/json"}); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %v %s %v", resp, body, err)
	}
	incs, err := svc.incidents("open", "")
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents %v %v", incs, err)
	}
	streaming := &http.Client{Transport: &http.Transport{Proxy: nil}} // no timeout: a stream lasts
	resp, err := streaming.Get(svc.URL + "/api/v1/incidents/" + incs[0].ID + "/events")
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream: %v %v", resp, err)
	}
	ended := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, resp.Body); close(ended) }()
	svc.stop(t) // requires exit status 0: a stream held past --shutdown-timeout (10s) fails it
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Error("the event stream did not end at shutdown")
	}
}
