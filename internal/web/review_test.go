package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

type noWebhooks struct{}

func (noWebhooks) Alertmanager(echo.Context) error { return nil }
func (noWebhooks) PagerDuty(echo.Context) error    { return nil }

// fakeReviews holds one review and records waivers.
type fakeReviews struct {
	info   web.ReviewInfo
	waived string
}

func (f *fakeReviews) ReviewInfo(_ context.Context, id string) (web.ReviewInfo, error) {
	if id != f.info.IncidentID {
		return web.ReviewInfo{}, fmt.Errorf("review of incident %q: %w", id, timeline.ErrNotFound)
	}
	return f.info, nil
}

func (f *fakeReviews) ReviewCalendar(ctx context.Context, id string) ([]byte, error) {
	if _, err := f.ReviewInfo(ctx, id); err != nil {
		return nil, err
	}
	return []byte("BEGIN:VCALENDAR\r\nUID:" + f.info.UID + "\r\nEND:VCALENDAR\r\n"), nil
}

func (f *fakeReviews) Calendar(context.Context) ([]byte, error) {
	return []byte("BEGIN:VCALENDAR\r\nX-WR-CALNAME:Postmortem reviews\r\nEND:VCALENDAR\r\n"), nil
}

func (f *fakeReviews) Waive(ctx context.Context, id, reason string) (web.ReviewInfo, error) {
	info, err := f.ReviewInfo(ctx, id)
	if err != nil {
		return info, err
	}
	f.waived = reason
	info.Status, info.WaiveReason = "waived", reason
	return info, nil
}

func reviewServer(t *testing.T, writeToken string) (*httptest.Server, *fakeReviews) {
	t.Helper()
	start := time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	f := &fakeReviews{info: web.ReviewInfo{IncidentID: "inc-1", UID: "abc@postmortemd", Status: "scheduled", Start: start,
		End: start.Add(time.Hour), TimeZone: "Asia/Tokyo", Late: true, Reason: "Monday is a holiday.", AttendeeCount: 5,
		RequiredCount: 3, Roles: []string{"incident commander"},
		Delivery: map[string]web.ReviewDelivery{"email": {State: "failed", Attempts: 3, LastError: "connection refused"}}}}
	_, store := newMiniStore(t, redisstore.Options{}) // an empty store: the fake reviews' incidents are not in it
	srv := httptest.NewServer(web.New(web.Options{Store: store, Webhooks: noWebhooks{}, Review: web.ReviewOptions{Reviews: f},
		Notes: web.NoteOptions{WriteToken: writeToken}}))
	t.Cleanup(srv.Close)
	return srv, f
}

func TestReviewEndpoints(t *testing.T) {
	srv, f := reviewServer(t, "")
	tests := []struct {
		name, method, path, body string
		code                     int
		ctype                    string
		in                       []string
	}{
		{"review JSON", "GET", "/api/v1/incidents/inc-1/review", "", 200, "application/json",
			[]string{`"start":"2026-11-24T01:00:00Z"`, `"end":"2026-11-24T02:00:00Z"`, `"time_zone":"Asia/Tokyo"`, `"status":"scheduled"`,
				`"attendee_count":5`, `"reason":"Monday is a holiday."`, `"delivery":{"email":{`, `"attempts":3`, `"last_error":"connection refused"`}},
		{"unknown incident", "GET", "/api/v1/incidents/nope/review", "", 404, "application/json", []string{`"status":404`}},
		{"review.ics", "GET", "/incidents/inc-1/review.ics", "", 200, "text/calendar", []string{"UID:abc@postmortemd"}},
		{"unknown review.ics", "GET", "/incidents/nope/review.ics", "", 404, "application/json", nil},
		{"calendar feed", "GET", "/calendar.ics", "", 200, "text/calendar", []string{"X-WR-CALNAME:Postmortem reviews"}},
		{"waive without a reason", "POST", "/api/v1/incidents/inc-1/review/waive", `{"reason":"  "}`, 400, "application/json", []string{"a reason is required"}},
		{"waive malformed", "POST", "/api/v1/incidents/inc-1/review/waive", `{"reason":`, 400, "application/json", nil},
		{"waive with a huge body", "POST", "/api/v1/incidents/inc-1/review/waive", `{"reason":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "application/json", []string{"larger than"}},
		{"waive unknown", "POST", "/api/v1/incidents/nope/review/waive", `{"reason":"x"}`, 404, "application/json", nil},
		{"waive: an address in the reason becomes a role", "POST", "/api/v1/incidents/inc-1/review/waive", `{"reason":"Ask dana.okafor@example.com"}`, 200, "application/json",
			[]string{`"status":"waived"`, `"waive_reason":"Ask (an e-mail address)"`}},
		{"waive", "POST", "/api/v1/incidents/inc-1/review/waive", `{"reason":"Reviewed with INC-41."}`, 200, "application/json",
			[]string{`"status":"waived"`, `"waive_reason":"Reviewed with INC-41."`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.code || !strings.HasPrefix(res.Header.Get("Content-Type"), tt.ctype) {
				t.Fatalf("%s %s = %d %s, want %d %s: %s", tt.method, tt.path, res.StatusCode, res.Header.Get("Content-Type"), tt.code, tt.ctype, b)
			}
			for _, s := range tt.in {
				if !strings.Contains(string(b), s) {
					t.Errorf("body lacks %s: %s", s, b)
				}
			}
		})
	}
	if f.waived != "Reviewed with INC-41." {
		t.Errorf("waived with %q", f.waived)
	}
	var info map[string]any
	res, _ := http.Get(srv.URL + "/api/v1/incidents/inc-1/review")
	_ = json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	for k := range info {
		if strings.Contains(k, "email") || k == "attendees" {
			t.Errorf("the review JSON has %q: the API names no one", k)
		}
	}
}

func TestWaivingNeedsTheWriteToken(t *testing.T) {
	srv, f := reviewServer(t, "s3cret")
	post := func(token string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/incidents/inc-1/review/waive", strings.NewReader(`{"reason":"dup"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized || f.waived != "" {
		t.Fatalf("waive without the token = %d (waived %q), want 401 and nothing waived", code, f.waived)
	}
	if code := post("s3cret"); code != http.StatusOK || f.waived != "dup" {
		t.Fatalf("waive with the token = %d, want 200", code)
	}
}
