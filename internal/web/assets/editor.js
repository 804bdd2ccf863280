// postmortemd editor: a live preview rendered by the server as the postmortem page renders it, the
// blameless lint while typing, what the edit does to the machine-owned blocks, and saving without
// a reload. Without this script the editor is a plain form. A save that meets a newer version is
// never applied and the person's text is never dropped: the server answers with it merged onto
// the new version, and the text as written stays on the page.
(function () {
  'use strict';

  // Shared with the pages' script (app.js, loaded before this one on every page).
  var textElement = window.postmortemd.textElement;
  var findingText = window.postmortemd.findingText;
  var ownFinding = window.postmortemd.ownFinding;

  function editor(article) {
    // The page's language: words the server put on the article ({n}, {reason} filled in here),
    // English without them.
    var words = {};
    try { words = JSON.parse(article.dataset.words || '{}'); } catch (err) { words = {}; }
    function word(key, english, n, reason) {
      return String(words[key] || english).split('{n}').join(String(n)).split('{reason}').join(String(reason));
    }
    var form = document.getElementById('editor-form');
    var area = document.getElementById('editor-markdown');
    if (!form || !area) { return; }
    var base = form.querySelector('textarea[name="base"]');
    var etag = form.querySelector('input[name="etag"]');
    var status = document.getElementById('editor-status');
    var preview = document.getElementById('editor-preview');
    var findings = document.getElementById('findings');
    var problems = document.getElementById('editor-problems');
    var names = document.getElementById('editor-names');
    var button = form.querySelector('button[type="submit"]');
    var saved = area.value;
    var timer = null;
    var seq = 0;
    var blocking = false;

    function say(text, kind) {
      var p = textElement('p', 'notice ' + (kind || ''), text);
      p.id = kind === 'error' ? 'editor-error' : 'editor-saved';
      status.replaceChildren(p);
    }

    function showProblems(list) {
      blocking = false;
      problems.replaceChildren();
      (list || []).forEach(function (p) {
        if (p.blocking) { blocking = true; }
        problems.appendChild(textElement('li', p.blocking ? 'blocking' : 'warning', String(p.text || p.message || '')));
      });
    }

    function showFindings(list) {
      findings.replaceChildren();
      if (!list || list.length === 0) {
        findings.appendChild(textElement('li', 'empty', word('no_findings', 'No wording flagged.')));
        return;
      }
      list.forEach(function (f) {
        var li = textElement('li', 'finding finding-' + String(f.severity || ''), '');
        li.appendChild(textElement('span', 'where', f.in_machine_block ? word('where_quoted', 'Line {n}, in a note the draft quotes:', f.line) :
          word('where', 'Line {n}:', f.line)));
        // postmortemd's own rules in the page's language: as the server said them, or from the page's words.
        f = f.text ? { match: f.match, message: f.text, suggestion: f.suggestion_text || f.suggestion } :
          ownFinding(f, function (k) { return String(words[k] || ''); });
        li.appendChild(document.createTextNode(' ' + findingText(f)));
        if (f.suggestion) {
          li.appendChild(document.createTextNode(' '));
          li.appendChild(textElement('span', 'suggestion', word('instead', 'Instead:') + ' ' + String(f.suggestion)));
        }
        findings.appendChild(li);
      });
    }

    function showNames(n) {
      names.textContent = n > 0 ? (n === 1 ? word('names_one', '1 name or address will be replaced by a role when you save.') :
        word('names_many', '{n} names or addresses will be replaced by roles when you save.', n)) : '';
    }

    function check() {
      timer = null;
      var mine = ++seq;
      fetch(article.dataset.preview, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify({ markdown: area.value, base: base.value })
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (res) {
        if (!res || mine !== seq) { return; }
        // The server renders and sanitises the preview exactly as the postmortem page; the page's
        // Content-Security-Policy forbids inline script in any case.
        preview.innerHTML = res.html;
        showFindings(res.findings);
        showProblems(res.problems);
        showNames(res.names);
        article.dataset.checked = String(Number(article.dataset.checked || 0) + 1);
      }).catch(function () { /* the preview is a help; saving still works */ });
    }

    area.addEventListener('input', function () {
      if (timer !== null) { clearTimeout(timer); }
      timer = setTimeout(check, 250);
    });

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (blocking) {
        var first = problems.querySelector('li.blocking');
        say(word('not_saved', 'Not saved: {reason}', 0, first ? first.textContent : word('fix_first', 'fix the problems listed first.')), 'error');
        return;
      }
      var body = new URLSearchParams(new FormData(form));
      button.disabled = true;
      fetch(form.action, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Accept': 'application/json' },
        body: body
      }).then(function (r) {
        return r.json().then(function (res) { return { status: r.status, res: res }; },
          function () { return { status: r.status, res: {} }; });
      }).then(function (out) {
        var res = out.res || {};
        if (out.status === 200) {
          etag.value = res.etag;
          base.value = res.markdown;
          if (res.markdown !== area.value) { area.value = res.markdown; }
          saved = area.value;
          var text = word('saved', 'Saved.');
          if (res.names_replaced > 0) {
            text += ' ' + (res.names_replaced === 1 ? word('saved_one', '1 name was replaced by roles; the editor shows the text as stored.') :
              word('saved_many', '{n} names were replaced by roles; the editor shows the text as stored.', res.names_replaced));
          }
          say(text, 'saved');
          article.dataset.saves = String(Number(article.dataset.saves || 0) + 1);
          check();
          return;
        }
        if (out.status === 409 && res.conflict) {
          etag.value = res.etag;
          base.value = res.base;
          area.value = res.merged;
          showConflict(res.mine, res.conflicts);
          // The JSON answer is English; the page's words say the same in the page's language.
          say(words.conflict_clean ? (res.conflicts > 0 ? word('conflict_marked', '', res.conflicts) : word('conflict_clean', '')) : res.error, 'error');
          check();
          return;
        }
        if (res.problems) { showProblems(res.problems); }
        say(res.error || word('answered', 'Not saved: the server answered {n}.', out.status), 'error');
      }).catch(function () {
        say(word('unreachable', 'Not saved: the server could not be reached. Your text is still here; try again.'), 'error');
      }).then(function () { button.disabled = false; });
    });

    function showConflict(mine, n) {
      var sec = document.getElementById('conflict');
      if (!sec) {
        sec = document.createElement('section');
        sec.id = 'conflict';
        sec.className = 'conflict';
        sec.appendChild(textElement('h2', '', word('your_text', 'Your text, as you wrote it')));
        sec.appendChild(textElement('p', 'hint', ''));
        var ta = document.createElement('textarea');
        ta.id = 'conflict-mine';
        ta.readOnly = true;
        ta.rows = 8;
        ta.setAttribute('aria-label', word('your_text_aria', 'Your text as you wrote it'));
        sec.appendChild(ta);
        status.parentNode.insertBefore(sec, status.nextSibling);
      }
      sec.querySelector('p').textContent = n > 0 ?
        word('conflict_hint_marked', 'Kept here unchanged. The text area holds it merged onto the version saved meanwhile, with {n} conflicting place(s) marked.', n) :
        word('conflict_hint', 'Kept here unchanged. The text area holds it merged onto the version saved meanwhile.');
      document.getElementById('conflict-mine').value = mine;
    }

    window.addEventListener('beforeunload', function (e) {
      if (area.value !== saved) { e.preventDefault(); e.returnValue = ''; }
    });
    form.dataset.ready = 'true';
  }

  function init() {
    var article = document.querySelector('article.editor[data-preview]');
    if (article && window.fetch) { editor(article); }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
