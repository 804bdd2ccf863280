package web_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// lateReview is a meeting for an incident resolved on a Friday evening in Tokyo, booked at the
// next working hours, on Monday morning.
func lateReview(t *testing.T) (*httptest.Server, *fakeReviews) {
	t.Helper()
	resolved := time.Date(2026, 11, 20, 10, 40, 0, 0, time.UTC) // Fri 19:40 JST
	start := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)      // Mon 10:00 JST
	f := &fakeReviews{info: web.ReviewInfo{IncidentID: "inc-1", UID: "abc@postmortemd", Status: "scheduled", Start: start,
		End: start.Add(45 * time.Minute), TimeZone: "Asia/Tokyo", ResolvedAt: resolved, Late: true,
		Reason:        "No free slot in working hours (Mon-Fri 10:00–18:00 Asia/Tokyo) between 2h and 24h after the resolution.",
		AttendeeCount: 3, RequiredCount: 2, Roles: []string{"incident commander", "primary on-call for checkout"}}}
	_, store := newMiniStore(t, redisstore.Options{})
	srv := httptest.NewServer(web.New(web.Options{Store: store, Webhooks: noWebhooks{},
		Review: web.ReviewOptions{Reviews: f, Location: "https://meet.example/postmortems"}}))
	t.Cleanup(srv.Close)
	return srv, f
}

// The review meeting's page in a headless Chromium, in New York: when in the viewer's zone and in
// UTC, how long, where, who as roles, why it is not within 24 hours, the calendar link, the waive
// form.
func TestBrowserReviewPage(t *testing.T) {
	srv, f := lateReview(t)
	browser := testenv.StartChromium(t)
	tab := newTab(t, browser)
	run(t, tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"})
		return err
	}), chromedp.Navigate(srv.URL+"/incidents/inc-1/review"))
	waitFor(t, tab, `document.getElementById('review-start').textContent.indexOf('20:00') >= 0`) // Sun 22 Nov 20:00 EST
	text := eval[string](t, tab, `document.querySelector('main').innerText`)
	for _, w := range []string{"(your time zone)", "Mon 23 Nov 2026 01:00–01:45 UTC", "45 minutes", "https://meet.example/postmortems",
		"incident commander", "primary on-call for checkout", "3, 2 required",
		"Not within 24 hours of the resolution: resolved Fri 20 Nov 19:40 JST; the first free slot in working hours is Mon 23 Nov 10:00 JST",
		"Open in your calendar app", "Reason (required)"} {
		if !strings.Contains(text, w) {
			t.Errorf("page lacks %q:\n%s", w, text)
		}
	}
	if sizes := eval[[]int](t, tab, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); sizes[0] > sizes[1] {
		t.Errorf("scrollWidth %d > clientWidth %d", sizes[0], sizes[1])
	}
	if eval[bool](t, tab, `document.getElementById('waive-reason').required`) != true {
		t.Error("the waive reason is not required in the form")
	}
	ics := eval[string](t, tab, `document.getElementById('review-ics').href`)
	resp, err := http.Get(ics)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/calendar") || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline") {
		t.Errorf(".ics served as %q, %q: a browser would not hand it to a calendar", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	// A blank reason (the browser's required check bypassed) is refused in words.
	eval[bool](t, tab, `(function(){var r=document.getElementById('waive-reason');r.required=false;r.value='   ';document.getElementById('waive-form').submit();return true;})()`)
	waitFor(t, tab, `document.getElementById('review-error') !== null`)
	if msg := eval[string](t, tab, `document.getElementById('review-error').textContent`); !strings.Contains(msg, "say why") || f.waived != "" {
		t.Fatalf("blank reason: %q, waived %q", msg, f.waived)
	}
	// Waive with a reason: the page says so.
	run(t, tab, chromedp.SendKeys(chromedp.CSS("#waive-reason"), "A config typo fixed in a minute; nothing to learn together."),
		chromedp.Click(chromedp.CSS("#waive-form button[type=submit]")))
	waitFor(t, tab, `document.getElementById('waived') !== null`)
	if f.waived != "A config typo fixed in a minute; nothing to learn together." {
		t.Fatalf("waived with %q", f.waived)
	}
}

func TestReviewPageWaiveNeedsAReason(t *testing.T) {
	srv, f := lateReview(t)
	resp, err := http.PostForm(srv.URL+"/incidents/inc-1/review/waive", url.Values{"reason": {"  "}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Writes are open here, but a form post still needs the CSRF token from the page.
	if resp.StatusCode != http.StatusForbidden || f.waived != "" {
		t.Fatalf("a form post without the page's token: %d, waived %q", resp.StatusCode, f.waived)
	}
	if resp, _ := http.Get(srv.URL + "/incidents/nope/review"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the review page of an unknown incident: %d", resp.StatusCode)
	}
}

// A reason the scheduler stored as a message is said in the reader's language: the Japanese
// reader of a late meeting reads why in Japanese, the English reader in English.
func TestReviewPageSaysTheStoredReasonInTheReadersLanguage(t *testing.T) {
	srv, f := lateReview(t)
	f.info.Reason = "stored words"
	code := i18n.Msg(i18n.ReviewLateReason, "Days", "1,2,3,4,5", "Start", "10:00", "End", "18:00", "Zone", "Asia/Tokyo",
		"Lead", "2h0m0s", "Deadline", "24h0m0s", "Resolved", "2026-11-20T19:40:00+09:00", "DeadlineAt", "2026-11-21T19:40:00+09:00",
		"Skipped", "2026-11-21,2026-11-22")
	f.info.ReasonCode = &code
	f.info.ResolvedAt = time.Time{} // the page then says the stored reason as it is
	for _, tt := range []struct{ lang, want, reject string }{
		{"ja", "解決（2026年11月20日（金） 19:40 JST）から 2時間後〜24時間後の業務時間（月・火・水・木・金 10:00–18:00 Asia/Tokyo）に空き枠がありませんでした（2026年11月21日（土）、2026年11月22日（日） は業務日ではありません）", "No free slot"},
		{"en", "No free slot in working hours (Mon,Tue,Wed,Thu,Fri 10:00–18:00 Asia/Tokyo) between 2h and 24h after the resolution at", "空き枠"},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/incidents/inc-1/review", nil)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Accept-Language", tt.lang)
		resp, body := do(t, req)
		body = html.UnescapeString(body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tt.want) || strings.Contains(body, tt.reject) || strings.Contains(body, "stored words") {
			t.Errorf("%s: %d, want %q in:\n%s", tt.lang, resp.StatusCode, tt.want, body)
		}
	}
}
