package i18n_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// storyEvents delivers the captured incident (Alertmanager's notification, then the 14 PagerDuty
// deliveries of receiver/testdata/pagerduty/story) through the real receiver into a store, and
// reads its timeline back as the draft worker does.
func storyEvents(t *testing.T) []timeline.Event {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	now := time.Date(2026, 11, 23, 13, 31, 42, 0, time.UTC)
	store := redisstore.New(rdb, redisstore.Options{Now: func() time.Time { return now }})
	const secret = "i18n-story-secret"
	h := receiver.New(receiver.Options{Store: store, Now: func() time.Time { return now },
		PagerDuty: receiver.PagerDutyOptions{Secrets: []string{secret}, Participants: store}})
	e := echo.New()
	e.POST("/webhook/alertmanager", h.Alertmanager)
	e.POST("/webhook/pagerduty", h.PagerDuty)
	post := func(path string, body []byte, hdr map[string]string) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
		}
	}
	am, err := os.ReadFile(filepath.Join(testdata, "alertmanager/v0.34.2/01-first-firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	post("/webhook/alertmanager", am, nil)
	files, _ := filepath.Glob(filepath.Join(testdata, "pagerduty/story/[0-9]*.json"))
	if len(files) != 14 {
		t.Fatalf("%d story files", len(files))
	}
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Event struct {
				OccurredAt time.Time `json:"occurred_at"`
			} `json:"event"`
		}
		_ = json.Unmarshal(body, &env)
		now = env.Event.OccurredAt.Add(time.Second)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		post("/webhook/pagerduty", body, map[string]string{"X-PagerDuty-Signature": "v1=" + hex.EncodeToString(m.Sum(nil)),
			"X-Webhook-Id": fmt.Sprintf("wh-%02d", i)})
	}
	ctx := context.Background()
	incs, err := store.Incidents(ctx, timeline.ListOptions{})
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents %v, %v", incs, err)
	}
	es, err := store.Entries(ctx, incs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	timeline.SortEntries(es)
	evs := make([]timeline.Event, len(es))
	for i, en := range es {
		if err := json.Unmarshal(en.JSON, &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// Rendering the captured incident's facts from their types and attributes with the English
// catalogue gives back the very sentences the receiver stored, "from" values included: the
// renderer reads the attributes right, so the Japanese sentences say the same facts.
func TestEnglishRenderingIsTheStoredSentence(t *testing.T) {
	evs := storyEvents(t)
	got := i18n.For(i18n.English).Render(evs)
	facts := 0
	for i, e := range evs {
		if e.Kind == timeline.KindContext {
			continue
		}
		facts++
		if got[i] != e.Fact {
			t.Errorf("%s:\nrendered %q\nstored   %q", e.Type, got[i], e.Fact)
		}
	}
	if facts < 10 {
		t.Fatalf("only %d facts in the story", facts)
	}
	ja := i18n.For(i18n.Japanese).Facts(evs)
	for i, e := range evs {
		if e.Kind == timeline.KindFact && (ja[i] == e.Fact || strings.Contains(ja[i], " by ")) {
			t.Errorf("%s has no Japanese sentence: %q", e.Type, ja[i])
		}
	}
}
