package testenv

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRadicale(t *testing.T) {
	r := StartRadicale(t)
	if !strings.HasPrefix(r.CalendarURL(), r.URL()+"/") || !strings.HasSuffix(r.CalendarURL(), "/review/") {
		t.Errorf("CalendarURL() = %q, want %s/<user>/review/", r.CalendarURL(), r.URL())
	}

	propfind := func(user, pass string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("PROPFIND", r.CalendarURL(), strings.NewReader(
			`<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Depth", "0")
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PROPFIND: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("the calendar collection exists", func(t *testing.T) {
		code, body := propfind(RadicaleUser, RadicalePassword)
		if code != http.StatusMultiStatus || !strings.Contains(body, "calendar") {
			t.Fatalf("PROPFIND = %d %s, want 207 naming a calendar resource type", code, body)
		}
	})
	t.Run("a wrong password is refused", func(t *testing.T) {
		if code, _ := propfind(RadicaleUser, "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("PROPFIND with a wrong password = %d, want 401", code)
		}
	})
	t.Run("stop and start keep the collections", func(t *testing.T) {
		r.Stop()
		if err := httpAnswers(r.URL() + "/"); err == nil {
			t.Fatal("server answers after Stop")
		}
		r.Start()
		if code, body := propfind(RadicaleUser, RadicalePassword); code != http.StatusMultiStatus {
			t.Fatalf("PROPFIND after Start = %d %s, want 207", code, body)
		}
	})
}
