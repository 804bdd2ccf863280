package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

const editorToken = "editor-write-token"

// editorService is the service with a drafts directory and a write token, after a captured
// Alertmanager incident fired, got a note that blames someone, resolved, and was drafted.
type editorService struct {
	*httptest.Server
	files *drafts.Store
	id    string
}

func newEditorService(t *testing.T) *editorService {
	t.Helper()
	_, store := newMiniStore(t, redisstore.Options{ResolveGrace: time.Second})
	reg := prometheus.NewRegistry()
	files := &drafts.Store{Dir: t.TempDir()}
	csrf := web.NewCSRF(editorToken)
	srv := httptest.NewServer(web.New(web.Options{Store: store, Ready: store, Registry: reg,
		Webhooks:    receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)}),
		Postmortems: web.PostmortemOptions{Library: files},
		Notes: web.NoteOptions{Annotator: store, WriteToken: editorToken, CSRF: csrf,
			People: []timeline.Participant{{Name: "Dana Okafor", Role: "primary on-call for checkout"}}},
		Pages: web.PageOptions{CSRFToken: csrf.Token}}))
	t.Cleanup(srv.Close)
	s := &editorService{Server: srv, files: files}
	ps := &pageService{Server: srv}
	s.id = ps.alert(t, amFixture(t, "01-first-firing.json"))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/incidents/"+s.id+"/notes",
		strings.NewReader(`{"role":"primary on-call for checkout","text":"Rolled back; the deploy was human error."}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+editorToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("note: %v %v", resp, err)
	}
	ps.alert(t, amFixture(t, "04-all-resolved.json"))
	renderer, err := drafts.NewRenderer("en", "")
	if err != nil {
		t.Fatal(err)
	}
	w := drafts.NewWorker(drafts.WorkerOptions{Store: store, Renderer: renderer, Files: files,
		Now: func() time.Time { return time.Now().Add(time.Minute) }})
	if err := w.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Get(s.id); err != nil {
		t.Fatalf("no draft: %v", err)
	}
	return s
}

// typeAt puts the caret right after the first occurrence of anchor in the editor and types text
// with real key events, as a person would.
func typeAt(t *testing.T, tab context.Context, anchor, text string) {
	t.Helper()
	ok := eval[bool](t, tab, `(function(){var a=document.getElementById('editor-markdown');var i=a.value.indexOf(`+jsString(anchor)+
		`);if(i<0){return false;}a.focus();a.setSelectionRange(i+`+itoa(len([]rune(anchor)))+`,i+`+itoa(len([]rune(anchor)))+`);return true;})()`)
	if !ok {
		t.Fatalf("the editor lacks %q", anchor)
	}
	run(t, tab, chromedp.KeyEvent(text))
}

func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r == '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// The editor in a real headless Chromium: sign in, lint while typing, save without a reload, a
// save that meets a newer version keeps the person's text and merges it, a broken marker refused
// in words, and the postmortem page without sideways scrolling on a laptop and a phone.
func TestBrowserPostmortemEditor(t *testing.T) {
	browser := testenv.StartChromium(t)
	s := newEditorService(t)
	editURL := s.URL + "/postmortems/" + s.id + "/edit"
	tab := newTab(t, browser)
	const prompt = "_What happened, what was done, and what we learnt, for someone who was not there._"

	t.Run("editing needs the write token: sign in", func(t *testing.T) {
		run(t, tab, chromedp.Navigate(editURL))
		waitFor(t, tab, `document.getElementById('signin-token') !== null && document.getElementById('editor-form') === null`)
		run(t, tab, chromedp.SendKeys(chromedp.CSS("#signin-token"), editorToken), chromedp.Submit(chromedp.CSS("#signin-token")))
		waitFor(t, tab, `location.pathname.endsWith('/edit') && document.querySelector('#editor-form[data-ready]') !== null`)
	})

	t.Run("lint findings and the preview follow the typing", func(t *testing.T) {
		typeAt(t, tab, prompt, "\nThe on-call forgot to check the dashboard.")
		waitFor(t, tab, `document.getElementById('findings').textContent.indexOf('"forgot to" judges a person') >= 0`)
		waitFor(t, tab, `document.getElementById('editor-preview').textContent.indexOf('forgot to check the dashboard') >= 0`)
		f := eval[string](t, tab, `document.getElementById('findings').textContent`)
		if strings.Count(f, "forgot to") != 1 {
			t.Errorf("the finding repeats the match: %q", f)
		}
		// The note the draft quotes ("human error") is flagged where the draft quotes it.
		if !strings.Contains(f, "in a note the draft quotes") {
			t.Errorf("findings %q lack the quoted note's wording", f)
		}
	})

	t.Run("save without a reload", func(t *testing.T) {
		eval[bool](t, tab, `window.loadedMark = true`)
		run(t, tab, chromedp.Click(chromedp.CSS(`#editor-form button[type="submit"]`)))
		waitFor(t, tab, `document.getElementById('editor-saved') !== null`)
		if !eval[bool](t, tab, `window.loadedMark === true`) {
			t.Fatal("the page reloaded")
		}
		doc, err := s.files.Get(s.id)
		if err != nil || !bytes.Contains(doc.Content, []byte(prompt+"\nThe on-call forgot to check the dashboard.")) {
			t.Fatalf("the file lacks the edit (%v)", err)
		}
	})

	t.Run("a save that meets a newer version keeps the text and merges it", func(t *testing.T) {
		cur, err := s.files.Get(s.id)
		if err != nil {
			t.Fatal(err)
		}
		// Someone else saves meanwhile: a new status, and the same sentence rewritten.
		theirs := strings.Replace(string(cur.Content), "status: draft", "status: in-review", 1)
		theirs = strings.Replace(theirs, "The on-call forgot to check the dashboard.", "The dashboard showed no errors.", 1)
		if _, err := s.files.Save(s.id, []byte(theirs), cur.ETag); err != nil {
			t.Fatal(err)
		}
		typeAt(t, tab, "forgot to check the dashboard", " before the deploy")
		run(t, tab, chromedp.Click(chromedp.CSS(`#editor-form button[type="submit"]`)))
		waitFor(t, tab, `document.getElementById('conflict-mine') !== null`)
		mine := eval[string](t, tab, `document.getElementById('conflict-mine').value`)
		merged := eval[string](t, tab, `document.getElementById('editor-markdown').value`)
		if !strings.Contains(mine, "forgot to check the dashboard before the deploy") {
			t.Errorf("the person's text is not kept: %q", mine)
		}
		for _, w := range []string{"status: in-review", drafts.ConflictStart, "forgot to check the dashboard before the deploy",
			drafts.ConflictSep, "The dashboard showed no errors.", drafts.ConflictEnd} {
			if !strings.Contains(merged, w) {
				t.Errorf("the merge lacks %q", w)
			}
		}
		if msg := eval[string](t, tab, `document.getElementById('editor-error').textContent`); !strings.Contains(msg, "changed since you opened it") {
			t.Errorf("message %q", msg)
		}
		if doc, _ := s.files.Get(s.id); string(doc.Content) != theirs {
			t.Fatal("the conflicting save was applied")
		}
		// Saving with the conflict lines still in is refused in words.
		waitFor(t, tab, `document.querySelector('#editor-problems li.blocking') !== null`)
		run(t, tab, chromedp.Click(chromedp.CSS(`#editor-form button[type="submit"]`)))
		waitFor(t, tab, `document.getElementById('editor-error').textContent.indexOf('merge conflict') >= 0`)
		// The person keeps both sentences and drops the conflict lines, then saves.
		eval[bool](t, tab, `(function(){var a=document.getElementById('editor-markdown');a.value=a.value.split('\n').filter(function(l){return l.indexOf('<<<<<<< ')!==0&&l.indexOf('======= ')!==0&&l.indexOf('>>>>>>> ')!==0;}).join('\n');a.dispatchEvent(new Event('input'));return true;})()`)
		waitFor(t, tab, `document.querySelector('#editor-problems li.blocking') === null`)
		run(t, tab, chromedp.Click(chromedp.CSS(`#editor-form button[type="submit"]`)))
		waitFor(t, tab, `document.getElementById('editor-saved') !== null`)
		doc, _ := s.files.Get(s.id)
		for _, w := range []string{"status: in-review", "forgot to check the dashboard before the deploy", "The dashboard showed no errors."} {
			if !bytes.Contains(doc.Content, []byte(w)) {
				t.Errorf("the saved file lacks %q", w)
			}
		}
	})

	t.Run("a broken marker is refused in words", func(t *testing.T) {
		before, _ := s.files.Get(s.id)
		eval[bool](t, tab, `(function(){var a=document.getElementById('editor-markdown');a.value=a.value.replace('<!-- postmortemd:end facts -->\n','');a.dispatchEvent(new Event('input'));return true;})()`)
		waitFor(t, tab, `document.querySelector('#editor-problems li.blocking') !== null`)
		run(t, tab, chromedp.Click(chromedp.CSS(`#editor-form button[type="submit"]`)))
		waitFor(t, tab, `document.getElementById('editor-error') !== null && document.getElementById('editor-error').textContent.indexOf('Not saved') === 0`)
		msg := eval[string](t, tab, `document.getElementById('editor-error').textContent`)
		if !strings.Contains(msg, "breaks the lines that mark what postmortemd writes") || !strings.Contains(msg, "Put the line back") {
			t.Errorf("message %q", msg)
		}
		if after, _ := s.files.Get(s.id); !bytes.Equal(after.Content, before.Content) {
			t.Fatal("the broken edit was saved")
		}
	})

	for _, width := range []int64{1280, 390} {
		t.Run("the postmortem page fits "+itoa(int(width))+" px", func(t *testing.T) {
			tab := newTab(t, browser)
			run(t, tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
					Width: width, Height: 800, DeviceScaleFactor: 1, Mobile: width < 600})
				return err
			}), chromedp.Navigate(s.URL+"/postmortems/"+s.id))
			waitFor(t, tab, `document.querySelector('.pm-header') !== null && document.readyState === 'complete'`)
			sizes := eval[[]int](t, tab, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
			if sizes[0] > sizes[1] {
				t.Errorf("scrollWidth %d > clientWidth %d: the page scrolls sideways", sizes[0], sizes[1])
			}
			// No word in a table cell is broken across lines: each word's text has one line box.
			broken := eval[[]string](t, tab, `(function(){var out=[];document.querySelectorAll('.markdown td, .markdown th').forEach(function(cell){
				var w=document.createTreeWalker(cell,NodeFilter.SHOW_TEXT);var n;while((n=w.nextNode())){var re=/[A-Za-z]{3,}/g;var m;
				while((m=re.exec(n.data))){var r=document.createRange();r.setStart(n,m.index);r.setEnd(n,m.index+m[0].length);
				var rects=Array.from(r.getClientRects()).filter(function(x){return x.width>0;});if(rects.length>1){out.push(m[0]);}}}});return out;})()`)
			if len(broken) > 0 {
				t.Errorf("words broken across lines in table cells: %q", broken)
			}
			text := eval[string](t, tab, `document.querySelector('main').innerText`)
			for _, w := range []string{"Responders (roles)", "time to resolve", "in-review", "checkout", "in a note the draft quotes"} {
				if !strings.Contains(text, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, bad := range []string{"null", "time_to_resolve", "incident_status"} {
				if strings.Contains(text, bad) {
					t.Errorf("page shows %q", bad)
				}
			}
			// The editor fits too (read-only here: this tab has not signed in).
			run(t, tab, chromedp.Navigate(editURL))
			waitFor(t, tab, `document.getElementById('editor-markdown') !== null && document.readyState === 'complete'`)
			if sizes := eval[[]int](t, tab, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); sizes[0] > sizes[1] {
				t.Errorf("editor: scrollWidth %d > clientWidth %d", sizes[0], sizes[1])
			}
		})
	}
}
