package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLintCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	draftText := "---\n# postmortemd:begin attributes sha256:0123456789abcdef\nid: \"human error\"\n# postmortemd:end attributes\ntitle: Checkout latency\n---\n# Summary\n\nThe on-call forgot to drain the node.\n\n```\nERROR human error\n```\n\n## 再発防止\n担当者の不注意。\n"
	draft := write("draft.md", draftText)
	clean := write("clean.md", "# Summary\n\nThe alert fired at 10:02 and the primary on-call acknowledged it.\n")
	plain := write("notes.txt", "```\nhuman error\n```\n")
	words := write("words.yaml", "disable: [forgot-to]\nrules:\n  - id: rookie\n    terms: [rookie]\n")
	badWords := write("bad.yaml", "disable: [no-such-rule]\n")
	stamp := time.Now().Add(-time.Hour)
	if err := os.Chtimes(draft, stamp, stamp); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		stdin  string
		code   int
		stdout []string // each must appear, in this order
		stderr string
	}{
		{"findings in a draft", []string{draft}, nil, "", 1, []string{
			draft + ":9:13: forgot-to: \"forgot to\" judges a person instead of describing what happened (say what happened",
			draft + ":16:5: ja-careless: ",
		}, ""},
		{"clean file", []string{clean}, nil, "", 0, nil, ""},
		{"plain text is linted whole", []string{plain}, nil, "", 1, []string{plain + ":2:1: human-error: "}, ""},
		{"several files", []string{clean, draft}, nil, "", 1, []string{draft + ":9:13:"}, ""},
		{"standard input", []string{"-"}, nil, "It was her fault.\n", 1, []string{"-:1:8: fault: "}, ""},
		{"words file disables and adds", []string{"--words", words, draft, "-"}, nil, "a rookie move", 1, []string{draft + ":16:5: ja-careless", "-:1:3: rookie: "}, ""},
		{"words file from the environment", []string{"-"}, map[string]string{"POSTMORTEMD_LINT_WORDS": words}, "forgot to", 0, nil, ""},
		{"bad words file", []string{"--words", badWords, clean}, nil, "", 2, nil, `no rule "no-such-rule"`},
		{"missing file", []string{filepath.Join(dir, "nope.md")}, nil, "", 2, nil, "nope.md"},
		{"no files", nil, nil, "", 2, nil, "Usage: postmortemd lint"},
		{"bad format", []string{"--format", "xml", clean}, nil, "", 2, nil, "--format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := runLint(tt.args, getenv, strings.NewReader(tt.stdin), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errOut.String())
			}
			rest := out.String()
			for _, want := range tt.stdout {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order):\n%s", want, out.String())
				}
				rest = rest[i+len(want):]
			}
			if tt.code == 0 && out.Len() != 0 {
				t.Errorf("clean run printed %q", out.String())
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.stderr)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := runLint([]string{"--format", "json", draft}, func(string) string { return "" }, nil, &out, &errOut); code != 1 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var fs []struct {
			File, Rule, Match, Severity, Suggestion string
			Line, Column                            int
		}
		if err := json.Unmarshal(out.Bytes(), &fs); err != nil {
			t.Fatal(err, out.String())
		}
		if len(fs) != 2 || fs[0].File != draft || fs[0].Rule != "forgot-to" || fs[0].Match != "forgot to" ||
			fs[0].Line != 9 || fs[1].Rule != "ja-careless" || fs[1].Suggestion == "" {
			t.Errorf("json findings %+v", fs)
		}
	})
	t.Run("the file is never changed", func(t *testing.T) {
		b, err := os.ReadFile(draft)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(draft)
		if string(b) != draftText || !fi.ModTime().Equal(stamp) {
			t.Errorf("draft changed: mtime %v, want %v", fi.ModTime(), stamp)
		}
	})
}

// The access settings and the notes wiring, through run: open writes are announced at start-up; a
// write token from a file closes them; a bad words file stops start-up naming the setting.
func TestNotesWiring(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "write-token")
	if err := os.WriteFile(tokenFile, []byte("w-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	am, err := os.ReadFile("../../receiver/testdata/alertmanager/v0.25.0/01-first-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(t *testing.T, url, body string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	note := `{"role":"scribe","text":"He forgot to page the secondary."}`

	t.Run("open writes are announced", func(t *testing.T) {
		base, _, log := startRun(t)
		if !strings.Contains(log.String(), "WRITES ARE OPEN") {
			t.Errorf("no warning about open writes:\n%s", log)
		}
		id := runIncident(t, base, am)
		if code := post(t, base+"/api/v1/incidents/"+id+"/notes", note, nil); code != 201 {
			t.Fatalf("note %d", code)
		}
	})
	t.Run("the incident page's form posts a note", func(t *testing.T) {
		base, _, _ := startRun(t)
		id := runIncident(t, base, am)
		resp, err := http.Get(base + "/incidents/" + id)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
		if resp.StatusCode != 200 || m == nil || len(resp.Cookies()) == 0 {
			t.Fatalf("page %d without a CSRF field or cookie", resp.StatusCode)
		}
		form := "role=scribe&text=Rolled+back+by+hand.&idempotency_key=k1&csrf_token=" + string(m[1])
		req, _ := http.NewRequest("POST", base+"/api/v1/incidents/"+id+"/notes", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		for _, c := range resp.Cookies() {
			req.AddCookie(c)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		got, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got.Body.Close()
		if got.StatusCode != http.StatusSeeOther {
			t.Fatalf("form post %d, want 303", got.StatusCode)
		}
	})
	t.Run("write token from a file", func(t *testing.T) {
		base, _, log := startRun(t, "--write-token-file", tokenFile)
		if strings.Contains(log.String(), "WRITES ARE OPEN") || strings.Contains(log.String(), "w-secret") {
			t.Errorf("log warns of open writes or shows the token:\n%s", log)
		}
		id := runIncident(t, base, am)
		if code := post(t, base+"/api/v1/incidents/"+id+"/notes", note, nil); code != 401 {
			t.Fatalf("without token %d, want 401", code)
		}
		if code := post(t, base+"/api/v1/incidents/"+id+"/notes", note, map[string]string{"Authorization": "Bearer w-secret"}); code != 201 {
			t.Fatalf("with token %d, want 201", code)
		}
	})
	t.Run("bad settings stop start-up", func(t *testing.T) {
		bad := filepath.Join(dir, "bad-words.yaml")
		if err := os.WriteFile(bad, []byte("disable: [nope]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--lint-words", bad}, "lint-words"},
			{[]string{"--write-auth-header", "X Forwarded User"}, "write-auth-header"},
			{[]string{"--write-token", "same", "--read-token", "same"}, "read-token"},
			{[]string{"--read-token-file", filepath.Join(dir, "missing")}, "read-token-file"},
		} {
			err := run(context.Background(), append([]string{"--listen", "127.0.0.1:0", "--drafts-dir", t.TempDir()}, tt.args...),
				func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v: err %v, want one naming %s", tt.args, err, tt.want)
			}
		}
	})
}

// Alert annotations are free text: a name from the people directory and any e-mail address in
// them become roles before the timeline stores them.
func TestAnnotationsNamePeopleAsRoles(t *testing.T) {
	dir := t.TempDir()
	people := filepath.Join(dir, "people.yml")
	if err := os.WriteFile(people, []byte("- name: Dana Okafor\n  email: dana.okafor@example.com\n  role: checkout service owner\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../receiver/testdata/alertmanager/v0.25.0/01-first-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatal(err)
	}
	for _, a := range msg["alerts"].([]any) {
		ann := a.(map[string]any)["annotations"].(map[string]any)
		ann["description"] = "Owner: Dana Okafor (dana.okafor@example.com); escalate to ops-lead@example.com"
	}
	body, _ := json.Marshal(msg)
	base, _, _ := startRun(t, "--people-file", people)
	id := runIncident(t, base, body)
	resp, err := http.Get(base + "/api/v1/incidents/" + id + "/timeline")
	if err != nil {
		t.Fatal(err)
	}
	tl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, pii := range []string{"Dana", "Okafor", "dana.okafor", "ops-lead@"} {
		if strings.Contains(string(tl), pii) {
			t.Errorf("the timeline carries %q:\n%s", pii, tl)
		}
	}
	if !strings.Contains(string(tl), "Owner: the checkout service owner (the checkout service owner)") {
		t.Errorf("the annotation does not name the role:\n%s", tl)
	}
}

// runIncident posts an Alertmanager webhook body to the service at base and returns the ID of the
// one incident it lists afterwards.
func runIncident(t *testing.T, base string, webhook []byte) string {
	t.Helper()
	resp, err := http.Post(base+"/webhook/alertmanager", "application/json", bytes.NewReader(webhook))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook %d", resp.StatusCode)
	}
	resp, err = http.Get(base + "/api/v1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Incidents []struct{ ID string } }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Incidents) != 1 {
		t.Fatalf("incidents %v %+v", err, list)
	}
	return list.Incidents[0].ID
}
