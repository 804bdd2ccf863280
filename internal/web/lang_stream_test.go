package web

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A Japanese reader's incident page shows facts and roles in Japanese, and the live stream sends
// them as "text" and "role_text" beside the API's unchanged "fact" and "role"; an English reader's
// stream is the API's events as they are.
func TestIncidentPageAndStreamInJapanese(t *testing.T) {
	s := newStreamService(t)
	id := s.alert(t, "01-first-firing.json")

	resp, err := s.Client().Do(mustRequest(t, s.URL+"/incidents/"+id, "ja"))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	for _, want := range []string{`<p class="fact">アラート HighLatency が発火しました（service=checkout, instance=inst-1）（重大度 critical）`,
		`<span class="role">Alertmanager（レシーバー postmortemd）</span>`,
		// Notes keep the canonical role: the form suggests it, labelled in the reader's language.
		`<option value="Alertmanager (receiver postmortemd)" label="Alertmanager（レシーバー postmortemd）">`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	ja := openStream(t, s.URL+"/api/v1/incidents/"+id+"/events?last_event_id=0-0", map[string]string{"Accept-Language": "ja"})
	en := openStream(t, s.URL+"/api/v1/incidents/"+id+"/events?last_event_id=0-0", nil)
	for _, c := range []*sseClient{ja, en} {
		if m := c.next(t); m.Event != "status" {
			t.Fatalf("first message %+v, want status", m)
		}
	}
	s.alert(t, "02-second-alert-joins.json")
	for name, c := range map[string]*sseClient{"ja": ja, "en": en} {
		m := c.next(t)
		var ev struct {
			Fact     string  `json:"fact"`
			Role     string  `json:"role"`
			Text     *string `json:"text"`
			RoleText *string `json:"role_text"`
		}
		if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
			t.Fatalf("%s: %v: %s", name, err, m.Data)
		}
		if !strings.HasPrefix(ev.Fact, "Alert HighLatency") || ev.Role != "Alertmanager (receiver postmortemd)" {
			t.Errorf("%s: the API's fields changed: %+v", name, ev)
		}
		switch name {
		case "ja":
			if ev.Text == nil || !strings.HasPrefix(*ev.Text, "アラート HighLatency が") || ev.RoleText == nil || *ev.RoleText != "Alertmanager（レシーバー postmortemd）" {
				t.Errorf("ja: %s", m.Data)
			}
		case "en":
			if ev.Text != nil || ev.RoleText != nil {
				t.Errorf("en: %s", m.Data)
			}
		}
	}
}

func mustRequest(t *testing.T, url, lang string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	return req
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v %s", resp.StatusCode, err, b)
	}
	return string(b)
}
