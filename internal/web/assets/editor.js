// postmortemd editor: a live preview rendered by the server as the postmortem page renders it, the
// blameless lint while typing, what the edit does to the machine-owned blocks, and saving without
// a reload. Without this script the editor is a plain form. A save that meets a newer version is
// never applied and the person's text is never dropped: the server answers with it merged onto
// the new version, and the text as written stays on the page.
(function () {
  'use strict';

  function textElement(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    el.textContent = text;
    return el;
  }

  // findingText mirrors the server's findingText (editor.go).
  function findingText(f) {
    var msg = String(f.message || '').trim();
    if (msg && !/[.。]$/.test(msg)) { msg += '.'; }
    var match = String(f.match || '');
    if (!match || msg.charAt(0) === '"' || msg.charAt(0) === '「' || msg.toLowerCase().indexOf(match.toLowerCase()) >= 0) {
      return msg;
    }
    return '“' + match + '”: ' + msg;
  }

  function editor(article) {
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
        problems.appendChild(textElement('li', p.blocking ? 'blocking' : 'warning', String(p.message || '')));
      });
    }

    function showFindings(list) {
      findings.replaceChildren();
      if (!list || list.length === 0) {
        findings.appendChild(textElement('li', 'empty', 'No wording flagged.'));
        return;
      }
      list.forEach(function (f) {
        var li = textElement('li', 'finding finding-' + String(f.severity || ''), '');
        li.appendChild(textElement('span', 'where', 'Line ' + f.line + (f.in_machine_block ? ', in a note the draft quotes' : '') + ':'));
        li.appendChild(document.createTextNode(' ' + findingText(f)));
        if (f.suggestion) {
          li.appendChild(document.createTextNode(' '));
          li.appendChild(textElement('span', 'suggestion', 'Instead: ' + String(f.suggestion)));
        }
        findings.appendChild(li);
      });
    }

    function showNames(n) {
      names.textContent = n > 0 ? (n === 1 ? '1 name or address will be replaced by a role when you save.' :
        n + ' names or addresses will be replaced by roles when you save.') : '';
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
        say('Not saved: ' + (first ? first.textContent : 'fix the problems listed first.'), 'error');
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
          var text = 'Saved.';
          if (res.names_replaced > 0) {
            text += ' ' + res.names_replaced + (res.names_replaced === 1 ? ' name was' : ' names were') + ' replaced by roles; the editor shows the text as stored.';
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
          say(res.error, 'error');
          check();
          return;
        }
        if (res.problems) { showProblems(res.problems); }
        say(res.error || ('Not saved: the server answered ' + out.status + '.'), 'error');
      }).catch(function () {
        say('Not saved: the server could not be reached. Your text is still here; try again.', 'error');
      }).then(function () { button.disabled = false; });
    });

    function showConflict(mine, n) {
      var sec = document.getElementById('conflict');
      if (!sec) {
        sec = document.createElement('section');
        sec.id = 'conflict';
        sec.className = 'conflict';
        sec.appendChild(textElement('h2', '', 'Your text, as you wrote it'));
        sec.appendChild(textElement('p', 'hint', ''));
        var ta = document.createElement('textarea');
        ta.id = 'conflict-mine';
        ta.readOnly = true;
        ta.rows = 8;
        ta.setAttribute('aria-label', 'Your text as you wrote it');
        sec.appendChild(ta);
        status.parentNode.insertBefore(sec, status.nextSibling);
      }
      sec.querySelector('p').textContent = 'Kept here unchanged. The text area holds it merged onto the version saved meanwhile' +
        (n > 0 ? ', with ' + n + ' conflicting place(s) marked.' : '.');
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
