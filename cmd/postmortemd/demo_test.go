package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The demo's data are the captures in receiver/testdata, byte for byte.
func TestDemoDataAreTheCaptures(t *testing.T) {
	entries, err := demoData.ReadDir("demodata")
	if err != nil || len(entries) != 15 {
		t.Fatalf("%d demo files (%v), want 15", len(entries), err)
	}
	for _, e := range entries {
		name := e.Name()
		orig := "../../receiver/testdata/alertmanager/v0.34.2/" + strings.TrimPrefix(name, "am-")
		if strings.HasPrefix(name, "pd-") {
			orig = "../../receiver/testdata/pagerduty/story/" + strings.TrimPrefix(name, "pd-")
		}
		want, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := demoData.ReadFile("demodata/" + name); !bytes.Equal(got, want) {
			t.Errorf("demodata/%s differs from %s", name, orig)
		}
	}
}

// postmortemd demo plays the captured incident through the real endpoints with today's times and
// ends with a draft to edit and a review booked; Ctrl-C stops it cleanly.
// startDemo starts the demo with o (on a free port, drafts in a new directory) and waits until it
// has printed the review meeting, that is until it has played every delivery. stop is Ctrl-C: it
// fails the test if the demo does not end cleanly.
func startDemo(t *testing.T, o demoOptions) (base, dir string, out *syncBuffer, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.listen = ln.Addr().String()
	ln.Close()
	o.draftsDir = t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- demo(ctx, o, out, io.Discard) }()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "Review meeting:") {
		select {
		case err := <-done:
			t.Fatalf("demo ended: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no review meeting after 90s:\n%s", out.String())
		}
	}
	return "http://" + o.listen, o.draftsDir, out, func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("demo after Ctrl-C: %v", err)
		}
	}
}

func TestDemoPlaysTheWholeLoop(t *testing.T) {
	start := time.Now()
	base, dir, out, stop := startDemo(t, demoOptions{duration: 3 * time.Second})
	deadline := time.Now().Add(90 * time.Second)
	for _, w := range []string{base + "/incidents", "PagerDuty: reopened", "PagerDuty: resolved again", "/edit"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	var list struct {
		Incidents []struct {
			ID         string    `json:"id"`
			Status     string    `json:"status"`
			StartedAt  time.Time `json:"started_at"`
			EventCount int       `json:"event_count"`
		} `json:"incidents"`
	}
	// Every delivery was answered before the demo printed the review; facts the service derives
	// from them (enrichment) may land a moment later, so the list is read until it holds them all.
	for {
		resp, err := http.Get(base + "/api/v1/incidents")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || len(list.Incidents) != 1 {
			t.Fatalf("incidents %+v (%v): want the one incident", list, err)
		}
		if list.Incidents[0].EventCount >= 15 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	inc := list.Incidents[0]
	if inc.Status != "resolved" || inc.EventCount < 15 || inc.StartedAt.Before(start.Add(-time.Second)) {
		t.Errorf("incident %+v: want resolved, every delivery on it, with today's times", inc)
	}
	for _, p := range []string{"/postmortems/" + inc.ID + "/edit", "/incidents/" + inc.ID + "/review"} {
		resp, err := http.Get(base + p)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", p, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.md")); len(files) != 1 {
		t.Errorf("drafts %v, want one", files)
	}
	stop()
}

// TestDemoInJapanese plays the demo with --draft-lang ja: the draft is the Japanese template and the
// review meeting's place, which the demo sets, is in Japanese too.
func TestDemoInJapanese(t *testing.T) {
	base, dir, _, stop := startDemo(t, demoOptions{duration: 2 * time.Second, lang: "ja"})
	files, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	if len(files) != 1 {
		t.Fatalf("drafts %v, want one", files)
	}
	md, err := os.ReadFile(files[0])
	if err != nil || !strings.Contains(string(md), "## 1. インシデントの属性") {
		t.Errorf("the draft is not the Japanese one (%v):\n%.600s", err, md)
	}
	var list struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	resp, err := http.Get(base + "/api/v1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Incidents) != 1 {
		t.Fatalf("incidents %+v (%v): want the one incident", list, err)
	}
	id := list.Incidents[0].ID
	req, _ := http.NewRequest(http.MethodGet, base+"/incidents/"+id+"/review", nil)
	req.Header.Set("Accept-Language", "ja")
	req.Header.Set("Accept", "text/html")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "デモ用の会議室") {
		t.Errorf("review page %d lacks the Japanese meeting room:\n%.2000s", resp.StatusCode, page)
	}
	stop()
}
