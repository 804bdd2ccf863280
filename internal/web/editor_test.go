package web_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/postmortemd/postmortemd/drafts"
)

// editorForm is what a browser without JavaScript reads from the editor page.
type editorForm struct {
	csrf, etag, base, markdown string
}

var (
	csrfInput  = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	etagInput  = regexp.MustCompile(`name="etag" value="([^"]*)"`)
	baseArea   = regexp.MustCompile(`(?s)<textarea name="base" hidden aria-hidden="true">\n(.*?)</textarea>`)
	editorArea = regexp.MustCompile(`(?s)<textarea id="editor-markdown" name="markdown"[^>]*>\n(.*?)</textarea>`)
)

func readEditorForm(t *testing.T, page string) editorForm {
	t.Helper()
	var f editorForm
	for _, x := range []struct {
		re  *regexp.Regexp
		dst *string
	}{{csrfInput, &f.csrf}, {etagInput, &f.etag}, {baseArea, &f.base}, {editorArea, &f.markdown}} {
		m := x.re.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the editor page lacks %s", x.re)
		}
		*x.dst = html.UnescapeString(m[1])
	}
	return f
}

// The editor as a plain form, without JavaScript: sign in, save (names become roles), and a save
// on a stale version answered with the editor again, the person's text kept and merged.
func TestEditorWithoutJavaScript(t *testing.T) {
	s := newEditorService(t)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	acceptLanguage := ""
	do := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, s.URL+path, body)
		req.Header.Set("Accept", "text/html")
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	edit := "/postmortems/" + s.id + "/edit"
	if _, page := do(http.MethodGet, edit, nil); strings.Contains(page, `id="editor-form"`) || !strings.Contains(page, "Sign in to edit") {
		t.Fatal("the editor offers the form before signing in")
	}
	if resp, _ := do(http.MethodPost, edit, url.Values{"markdown": {"x"}, "etag": {`"x"`}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a save without signing in: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(http.MethodPost, "/api/v1/session", url.Values{"token": {editorToken}, "next": {edit}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	_, page := do(http.MethodGet, edit, nil)
	f := readEditorForm(t, page)
	doc, _ := s.files.Get(s.id)
	if f.etag != doc.ETag || f.base != string(doc.Content) || f.markdown != string(doc.Content) {
		t.Fatal("the form does not carry the loaded version exactly")
	}
	const prompt = "_What happened, what was done, and what we learnt, for someone who was not there._"
	// A browser sends the text area's line breaks as CRLF.
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	mine := strings.Replace(f.markdown, prompt, "Dana Okafor rolled the deploy back.", 1)

	t.Run("without the CSRF token the save is refused", func(t *testing.T) {
		resp, _ := do(http.MethodPost, edit, url.Values{"markdown": {crlf(mine)}, "base": {crlf(f.base)}, "etag": {f.etag}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	})
	t.Run("save: names become roles, the page says so", func(t *testing.T) {
		resp, _ := do(http.MethodPost, edit, url.Values{"markdown": {crlf(mine)}, "base": {crlf(f.base)}, "etag": {f.etag}, "csrf_token": {f.csrf}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/postmortems/"+s.id+"?saved=1&names=1" {
			t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		doc, _ := s.files.Get(s.id)
		if !strings.Contains(string(doc.Content), "primary on-call for checkout rolled the deploy back.") ||
			strings.Contains(string(doc.Content), "Dana") || strings.Contains(string(doc.Content), "\r\n") {
			t.Fatal("the saved file keeps the name, or the browser's CRLF")
		}
		_, page := do(http.MethodGet, resp.Header.Get("Location"), nil)
		if !strings.Contains(page, "1 name(s) or address(es) were replaced by roles") {
			t.Error("the postmortem page does not say a name was replaced")
		}
	})
	t.Run("a save on a stale version comes back merged, nothing lost", func(t *testing.T) {
		stale := strings.Replace(f.markdown, prompt, "Someone else's summary.", 1)
		resp, page := do(http.MethodPost, edit, url.Values{"markdown": {stale}, "base": {f.base}, "etag": {f.etag}, "csrf_token": {f.csrf}})
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("status %d, want 409", resp.StatusCode)
		}
		again := readEditorForm(t, page)
		now, _ := s.files.Get(s.id)
		if again.etag != now.ETag || again.base != string(now.Content) {
			t.Error("the form does not carry the current version for the next save")
		}
		want := drafts.ConflictStart + "\nSomeone else's summary.\n" + drafts.ConflictSep + "\nthe primary on-call for checkout rolled the deploy back.\n" + drafts.ConflictEnd + "\n"
		if !strings.Contains(again.markdown, want) {
			t.Errorf("the merge does not mark the conflict:\n%s", again.markdown)
		}
		if !strings.Contains(page, `id="conflict-mine"`) || !strings.Contains(html.UnescapeString(page), "Someone else's summary.") ||
			!strings.Contains(page, "changed since you opened it") {
			t.Error("the page does not keep the person's text or say what happened")
		}
		if string(now.Content) == stale {
			t.Fatal("the stale save was applied")
		}
	})
	t.Run("a Japanese reader's refused save says why in Japanese", func(t *testing.T) {
		acceptLanguage = "ja"
		defer func() { acceptLanguage = "" }()
		_, page := do(http.MethodGet, edit, nil)
		f := readEditorForm(t, page)
		broken := strings.Replace(f.markdown, "<!-- postmortemd:end ", "<!-- postmortemd:end:", 1)
		resp, page := do(http.MethodPost, edit, url.Values{"markdown": {broken}, "base": {f.base}, "etag": {f.etag}, "csrf_token": {f.csrf}})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", resp.StatusCode)
		}
		page = html.UnescapeString(page)
		for _, want := range []string{"この編集は、postmortemd が書く範囲を示す行を壊しています（マーカー行 ", "の形式が正しくありません）"} {
			if !strings.Contains(page, want) {
				t.Errorf("the Japanese editor lacks %q", want)
			}
		}
		for _, reject := range []string{"This edit breaks", "malformed marker", "Put the line back"} {
			if strings.Contains(page, reject) {
				t.Errorf("the Japanese editor says %q", reject)
			}
		}
	})
}
