package fuzz

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
)

// fuzzRecorder is a store that keeps nothing but checks what a store relies on: every event has an
// id, a time and a fact in valid UTF-8. The fuzzers run fast against it; the real store's own rules
// are tested on miniredis and redis-server.
type fuzzRecorder struct{ t *testing.T }

func (r *fuzzRecorder) Record(_ context.Context, b timeline.Batch) (timeline.Result, error) {
	for _, e := range b.Events {
		if e.Event.ID == "" || e.Event.At.IsZero() || !utf8.ValidString(e.Event.Fact) {
			r.t.Fatalf("batch event %+v lacks an id or a time, or its fact is not UTF-8", e.Event)
		}
	}
	for _, o := range b.Occurrences {
		if o.Key == "" || o.Event.ID == "" || !utf8.ValidString(o.Event.Fact) {
			r.t.Fatalf("batch occurrence %+v lacks a key or an id, or its fact is not UTF-8", o)
		}
	}
	return timeline.Result{IncidentID: "20261123-fuzz-00000000", Opened: true, Appended: len(b.Events) + len(b.Occurrences)}, nil
}

// fuzzHandler is a Handler that records into rec.
func fuzzHandler(rec *fuzzRecorder, pd receiver.PagerDutyOptions) *receiver.Handler {
	return receiver.New(receiver.Options{Store: rec, PagerDuty: pd, MaxBodyBytes: 1 << 20,
		Now: func() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }})
}

// addFiles seeds f with every file that matches pattern (real captured deliveries) and is at most
// 64 KiB: the fuzzer mutates small inputs quickly, and the storms are tested whole elsewhere.
func addFiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files for %s: %v", pattern, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 64<<10 {
			f.Add(b)
		}
	}
}

// checkOutcome fails on any answer but a stored delivery or a client error: whatever a sender
// posts, the receiver must never panic or answer with a server error it could not explain.
func checkOutcome(t *testing.T, body []byte, rec *httptest.ResponseRecorder, err error) {
	t.Helper()
	var he *echo.HTTPError
	switch {
	case err == nil:
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	case errors.Is(err, timeline.ErrInvalid):
	case errors.As(err, &he) && he.Code < 500:
	default:
		t.Fatalf("a delivery got a server error: %v\nbody: %q", err, body)
	}
}

func FuzzAlertmanagerWebhook(f *testing.F) {
	addFiles(f, "../testdata/alertmanager/v*/[0-9]*.json")
	rec := &fuzzRecorder{}
	h := fuzzHandler(rec, receiver.PagerDutyOptions{})
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec.t = t
		req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		err := h.Alertmanager(e.NewContext(req, rec))
		checkOutcome(t, body, rec, err)
	})
}

func FuzzPagerDutyWebhook(f *testing.F) {
	addFiles(f, "../testdata/pagerduty/story/[0-9]*.json")
	addFiles(f, "../testdata/pagerduty/*.json")
	rec := &fuzzRecorder{}
	h := fuzzHandler(rec, receiver.PagerDutyOptions{AllowUnsigned: true})
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec.t = t
		req := httptest.NewRequest(http.MethodPost, "/webhook/pagerduty", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		err := h.PagerDuty(e.NewContext(req, rec))
		checkOutcome(t, body, rec, err)
	})
}
