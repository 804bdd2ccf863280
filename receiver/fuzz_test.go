package receiver

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// fuzzHandler is a Handler on a real store (miniredis), so a fuzzed delivery goes the whole way:
// read, decode, map to a batch, record. The store is emptied before every input.
func fuzzHandler(f *testing.F, pd PagerDutyOptions) (*Handler, *miniredis.Miniredis) {
	f.Helper()
	mr := miniredis.RunT(f)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	f.Cleanup(func() { rdb.Close() })
	store := redisstore.New(rdb, redisstore.Options{})
	if pd.AllowUnsigned {
		pd.Participants = store
	}
	return New(Options{Store: store, PagerDuty: pd, MaxBodyBytes: 1 << 20,
		Now: func() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }}), mr
}

// addFiles seeds f with every file that matches pattern (real captured deliveries).
func addFiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files for %s: %v", pattern, err)
	}
	for _, file := range files {
		f.Add(mustRead(f, file))
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
	addFiles(f, "testdata/alertmanager/v*/[0-9]*.json")
	h, mr := fuzzHandler(f, PagerDutyOptions{})
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		mr.FlushAll()
		req := httptest.NewRequest(http.MethodPost, "/webhook/alertmanager", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		err := h.Alertmanager(e.NewContext(req, rec))
		checkOutcome(t, body, rec, err)
	})
}

func FuzzPagerDutyWebhook(f *testing.F) {
	addFiles(f, "testdata/pagerduty/story/[0-9]*.json")
	addFiles(f, "testdata/pagerduty/*.json")
	h, mr := fuzzHandler(f, PagerDutyOptions{AllowUnsigned: true})
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		mr.FlushAll()
		req := httptest.NewRequest(http.MethodPost, "/webhook/pagerduty", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		err := h.PagerDuty(e.NewContext(req, rec))
		checkOutcome(t, body, rec, err)
	})
}
