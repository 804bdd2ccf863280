package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects a running service's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenAddr = regexp.MustCompile(`msg="postmortemd listening" addr=(\S+)`)

// e2eEventually polls cond every 100ms until it returns nil, and fails the test with cond's last
// error after timeout.
func e2eEventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startRun runs the service in-process on a free port with the embedded store.
func startRun(t *testing.T, args ...string) (base string, stop func() error, log *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log = &syncBuffer{}
	drafts := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0", "--drafts-dir", drafts}, args...), func(string) string { return "" }, io.Discard, log)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listenAddr.FindStringSubmatch(log.String()); m != nil {
			base = "http://" + m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not start:\n%s", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("run did not return after shutdown")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return base, stop, log
}

func TestEmbeddedStoreSaysDataIsInMemoryOnly(t *testing.T) {
	_, _, log := startRun(t)
	if !strings.Contains(log.String(), "embedded in-memory Redis") || !strings.Contains(log.String(), "LOST") {
		t.Fatalf("start-up log does not warn that data lives in memory only:\n%s", log)
	}
}

// A shutdown signal lets a delivery that is half-way through its body finish and be stored.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	base, stop, log := startRun(t)
	body, err := os.ReadFile("../../receiver/testdata/alertmanager/v0.25.0/01-first-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	type result struct {
		status int
		body   string
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhook/alertmanager", pr)
		req.ContentLength = int64(len(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		resc <- result{status: resp.StatusCode, body: string(b)}
	}()
	if _, err := pw.Write(body[:100]); err != nil { // the client is now sending the body
		t.Fatal(err)
	}
	// Wait until the server has read the headers and entered the handler, which then waits for the
	// rest of the body: the request is in flight. (Shutdown rightly drops a connection it has not
	// accepted yet.)
	e2eEventually(t, 10*time.Second, "the delivery is in flight", func() error {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(b), `postmortemd_http_requests_in_flight{route="/webhook/alertmanager"} 1`) {
			return errors.New("no webhook request in flight yet")
		}
		return nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown started:\n%s", log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) while a request was still in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := pw.Write(body[100:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	res := <-resc
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("in-flight delivery: %d %q %v", res.status, res.body, res.err)
	}
	var d struct {
		Opened   bool `json:"opened"`
		Appended int  `json:"appended"`
	}
	if err := json.Unmarshal([]byte(res.body), &d); err != nil || !d.Opened || d.Appended != 1 {
		t.Fatalf("in-flight delivery was not stored: %s", res.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if _, err := http.Get(base + "/-/healthy"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "postmortemd ") {
		t.Fatalf("--version printed %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "POSTMORTEMD_REDIS_URL") {
		t.Fatalf("--help output:\n%s", out.String())
	}
}
