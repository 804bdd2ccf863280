package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWebhookSlack(t *testing.T) {
	var got struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
			Elements []struct {
				Type, Text string
			} `json:"elements"`
		} `json:"blocks"`
	}
	var key, ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ctype = r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(context.Background(), Message{Key: "k1", Text: "Action item overdue: *Alert on <queue> depth*",
		Fields: []Field{{"Owner", "database on-call"}, {"Due", "2026-12-01"}}, Link: "https://pm.example/postmortems/x", LinkText: "Postmortem & items"})
	if err != nil {
		t.Fatal(err)
	}
	if key != "k1" || ctype != "application/json" {
		t.Errorf("headers: key %q, content type %q", key, ctype)
	}
	if got.Text != "Action item overdue: *Alert on <queue> depth*" || len(got.Blocks) != 3 || got.Blocks[0].Type != "section" ||
		got.Blocks[1].Fields[0].Text != "*Owner*\ndatabase on-call" ||
		got.Blocks[2].Elements[0].Text != "<https://pm.example/postmortems/x|Postmortem &amp; items>" {
		t.Errorf("slack body: %+v", got)
	}
}

func TestWebhookJSONAndErrors(t *testing.T) {
	status := http.StatusOK
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, Format: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	m := Message{Text: "x", Data: map[string]string{"threshold": "overdue"}}
	if err := w.Send(context.Background(), m); err != nil || body != `{"threshold":"overdue"}` {
		t.Errorf("json: %v %s", err, body)
	}
	for code, permanent := range map[int]bool{500: false, 503: false, 429: false, 408: false, 400: true, 404: true, 403: true} {
		status = code
		err := w.Send(context.Background(), m)
		if err == nil || errors.Is(err, ErrPermanent) != permanent {
			t.Errorf("%d: err %v, permanent %v", code, err, permanent)
		}
	}
	srv.Close()
	if err := w.Send(context.Background(), m); err == nil || errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("unreachable: %v (retryable, without the URL)", err)
	}
	for _, bad := range []WebhookOptions{{URL: "ftp://x"}, {URL: "http://x", Format: "xml"}, {URL: ""}} {
		if _, err := NewWebhook(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
