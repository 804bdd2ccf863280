// postmortemd pages: times in the viewer's time zone, the live event stream of an incident page,
// and the note form's time. Untrusted text only ever goes into textContent, never into HTML.
(function () {
  'use strict';

  var localFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short'
  });

  function utcText(d) {
    return d.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  }

  // localize shows a <time datetime> in the viewer's zone and keeps UTC on hover.
  function localize(el) {
    var d = new Date(el.getAttribute('datetime'));
    if (isNaN(d.getTime())) { return; }
    el.title = utcText(d);
    el.textContent = localFormat.format(d);
  }

  function timeElement(iso) {
    var t = document.createElement('time');
    t.setAttribute('datetime', iso);
    var d = new Date(iso);
    t.textContent = isNaN(d.getTime()) ? iso : utcText(d);
    localize(t);
    return t;
  }

  function textElement(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    el.textContent = text;
    return el;
  }

  // findingText says a lint finding in one sentence, as the server's findingText (editor.go).
  function findingText(f) {
    var msg = String(f.message || '').trim();
    if (msg && !/[.。]$/.test(msg)) { msg += '.'; }
    var match = String(f.match || '');
    if (!match || msg.charAt(0) === '"' || msg.charAt(0) === '「' || msg.toLowerCase().indexOf(match.toLowerCase()) >= 0) {
      return msg;
    }
    return '“' + match + '”: ' + msg;
  }

  // ownFinding returns f with postmortemd's own name rules' message and suggestion in the page's
  // language, as the server's ownFinding (editor.go); lookup(key) gives the page's words
  // (ownFindingWords) or '', and a configured rule's finding comes back as it is.
  function ownFinding(f, lookup) {
    var rule = String(f.rule || ''), msg = String(f.message || ''), sugg = String(f.suggestion || '');
    var out = { match: f.match, message: msg, suggestion: sugg };
    ['person-name', 'email-address'].forEach(function (id) {
      var k = 'lint.' + id;
      if (!lookup(k) || (rule !== '' && rule !== id) || msg !== lookup(k + '.en')) { return; }
      out.message = lookup(k);
      var en = lookup(k + '.suggestion.en');
      if (id === 'person-name' && en && sugg.indexOf(en) === 0) {
        out.suggestion = lookup(k + '.suggestion').split('{role}').join(sugg.slice(en.length));
      } else if (en && sugg === en) {
        out.suggestion = lookup(k + '.suggestion');
      }
    });
    return out;
  }

  function webURL(u) {
    if (typeof u !== 'string' || u === '') { return ''; }
    try {
      var p = new URL(u);
      return (p.protocol === 'http:' || p.protocol === 'https:') ? p.href : '';
    } catch (e) { return ''; }
  }

  // eventItem builds the list item of a streamed event, like the server renders one; word(key,
  // english) gives the page's words.
  function eventItem(cursor, ev, word) {
    var li = document.createElement('li');
    li.className = 'event new';
    li.id = 'ev-' + cursor;
    li.dataset.id = ev.id || '';
    li.dataset.cursor = cursor;
    var ms = Date.parse(ev.at);
    li.dataset.at = isNaN(ms) ? '0' : String(ms);
    li.appendChild(timeElement(ev.at));
    var meta = textElement('span', 'meta', '');
    meta.appendChild(textElement('span', 'source', String(ev.source || '')));
    meta.appendChild(document.createTextNode(' · '));
    meta.appendChild(textElement('span', 'type', String(ev.type || '')));
    var role = ev.role_text || ev.role; // role_text and text: the reader's language, when not English
    if (role) {
      meta.appendChild(document.createTextNode(' · '));
      meta.appendChild(textElement('span', 'role', String(role)));
    }
    li.appendChild(meta);
    li.appendChild(textElement('p', 'fact', String(ev.text || ev.fact || '')));
    var a = ev.attributes;
    if (a && typeof a === 'object') {
      var ann = a.annotations || {};
      var summary = ann.summary || ann.description;
      var fact = String(ev.text || ev.fact || '');
      if (summary && fact.indexOf(String(summary)) < 0) { li.appendChild(textElement('p', 'summary', String(summary))); }
      if (Array.isArray(a.flags) && a.flags.length > 0) {
        var ul = document.createElement('ul');
        ul.className = 'flags';
        ul.setAttribute('aria-label', word('row_flagged', 'Wording flagged by the blameless guardrail'));
        a.flags.forEach(function (stored) {
          var f = ownFinding(stored, function (k) { return String(word(k, '')); });
          var item = document.createElement('li');
          item.appendChild(document.createTextNode(findingText(f)));
          if (f.suggestion) {
            item.appendChild(document.createTextNode(' '));
            item.appendChild(textElement('span', 'suggestion', word('row_instead', 'Instead:') + ' ' + String(f.suggestion)));
          }
          ul.appendChild(item);
        });
        li.appendChild(ul);
      }
      var link = webURL(a.generator_url) || webURL(a.html_url);
      if (link) {
        var la = textElement('a', 'source-link', word('row_source', 'source'));
        la.href = link;
        la.rel = 'noopener noreferrer';
        la.target = '_blank';
        li.appendChild(la);
      }
    }
    return li;
  }

  // insertByTime keeps a list ordered by when events happened; equal times keep arrival order.
  function insertByTime(list, li) {
    var at = Number(li.dataset.at);
    var node = list.lastElementChild;
    while (node && Number(node.dataset.at) > at) { node = node.previousElementSibling; }
    list.insertBefore(li, node ? node.nextSibling : list.firstChild);
  }

  function live(article) {
    var url = article.dataset.stream;
    var lastId = article.dataset.lastEventId || '0-0';
    var facts = document.getElementById('facts');
    var context = document.getElementById('context');
    var contextEmpty = document.getElementById('context-empty');
    var indicator = document.getElementById('live');
    // The page's language: words the server put beside the indicator, English without them.
    var words = {};
    try { words = JSON.parse(indicator.dataset.words || '{}'); } catch (err) { words = {}; }
    function word(key, english) { return words[key] || english; }
    var seenCursor = new Set();
    var seenID = new Set();
    document.querySelectorAll('li.event').forEach(function (li) {
      seenCursor.add(li.dataset.cursor);
      if (li.dataset.id) { seenID.add(li.dataset.id); }
    });
    var source = null;
    var backoff = 1000;
    var timer = null;

    // showOpen says what a connected stream means: on a resolved incident nothing more is expected
    // (a reopen would still appear), so the page does not claim to be live.
    function showOpen() {
      if (article.dataset.status === 'resolved') {
        setState('resolved', word('live_resolved', 'Resolved: the timeline is complete. If the incident reopens, its new events appear here.'));
      } else {
        setState('live', word('live', 'Live: new events appear as they arrive.'));
      }
    }

    function setState(state, text) {
      if (indicator.dataset.state === state) { return; }
      indicator.dataset.state = state;
      indicator.textContent = text;
    }

    function onEvent(e) {
      var cursor = e.lastEventId;
      if (cursor) { lastId = cursor; }
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      if ((cursor && seenCursor.has(cursor)) || (ev.id && seenID.has(ev.id))) { return; }
      if (cursor) { seenCursor.add(cursor); }
      if (ev.id) { seenID.add(ev.id); }
      var isContext = e.type === 'context' || ev.kind === 'context';
      insertByTime(isContext ? context : facts, eventItem(cursor, ev, word));
      if (isContext && contextEmpty) { contextEmpty.hidden = true; }
      article.dataset.received = String(Number(article.dataset.received || 0) + 1);
    }

    function onStatus(e) {
      var st;
      try { st = JSON.parse(e.data); } catch (err) { return; }
      if (st.status) {
        article.dataset.status = st.status;
        if (indicator.dataset.state === 'live' || indicator.dataset.state === 'resolved') { showOpen(); }
      }
      var badge = document.getElementById('incident-status');
      if (badge && st.status) {
        badge.textContent = word('status.' + st.status, st.status);
        badge.className = 'status status-' + st.status;
      }
      var resolved = document.getElementById('incident-resolved');
      if (resolved && st.status === 'resolved' && st.resolved_at) {
        resolved.replaceChildren(timeElement(st.resolved_at));
      } else if (resolved && st.status && st.status !== 'resolved') {
        resolved.replaceChildren(textElement('span', 'muted', word('not_yet', 'not yet'))); // reopened
      }
    }

    function connect() {
      timer = null;
      source = new EventSource(url + '?last_event_id=' + encodeURIComponent(lastId));
      source.addEventListener('open', function () {
        backoff = 1000;
        showOpen();
      });
      source.addEventListener('fact', onEvent);
      source.addEventListener('context', onEvent);
      source.addEventListener('status', onStatus);
      source.addEventListener('error', function () {
        setState('reconnecting', word('reconnecting', 'Connection lost; reconnecting…'));
        if (source.readyState === EventSource.CLOSED && timer === null) {
          // The browser gave up (the server answered with an error): retry with our own backoff,
          // from the last event this page has.
          source.close();
          timer = setTimeout(connect, backoff);
          backoff = Math.min(backoff * 2, 30000);
        }
      });
    }
    connect();
    window.addEventListener('pagehide', function () { if (source) { source.close(); } });
  }

  function noteForm(form) {
    // Without this script the server reads the field as UTC, and the page says so.
    var zone = form.querySelector('[data-zone]');
    if (zone) { zone.textContent = zone.dataset.zone || '(optional, your time zone)'; }
    form.addEventListener('submit', function () {
      var local = form.querySelector('input[name="at_local"]');
      var at = form.querySelector('input[name="at"]');
      if (!local || !at) { return; }
      var d = local.value ? new Date(local.value) : null;
      at.value = d && !isNaN(d.getTime()) ? d.toISOString() : '';
    });
  }

  // liveList reloads the incident lists in the background: new incidents and status changes appear
  // without a reload, marked until the next change.
  function liveList(root) {
    var every = Number(root.dataset.refresh) || 5000;
    var indicator = document.getElementById('list-live');
    var words = {};
    try { words = JSON.parse((indicator && indicator.dataset.words) || '{}'); } catch (err) { words = {}; }
    function say(state, text) {
      if (indicator && indicator.dataset.state !== state) {
        indicator.dataset.state = state;
        indicator.textContent = text;
      }
    }
    function key(tr) { return tr.dataset.incident + ' ' + tr.dataset.status; }
    function tick() {
      if (document.hidden) { setTimeout(tick, every); return; } // a background tab costs nothing
      fetch(location.pathname + location.search, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('incident-lists');
          if (!fresh) { return; }
          var seen = new Set();
          root.querySelectorAll('tr[data-incident]').forEach(function (tr) { seen.add(key(tr)); });
          var nodes = [];
          fresh.childNodes.forEach(function (n) { nodes.push(document.importNode(n, true)); });
          root.replaceChildren.apply(root, nodes);
          root.querySelectorAll('tr[data-incident]').forEach(function (tr) {
            if (!seen.has(key(tr))) { tr.classList.add('new'); }
          });
          root.querySelectorAll('time[datetime]').forEach(localize);
          root.dataset.refreshed = String(Number(root.dataset.refreshed || 0) + 1);
          say('live', words.list_live || 'Live: new incidents and status changes appear as they happen.');
        })
        .catch(function () { say('reconnecting', words.list_retry || 'Connection lost; retrying…'); })
        .then(function () { setTimeout(tick, every); });
    }
    say('live', words.list_live || 'Live: new incidents and status changes appear as they happen.');
    setTimeout(tick, every);
  }

  function init() {
    document.querySelectorAll('time[datetime]').forEach(localize);
    document.querySelectorAll('[data-zone-label]').forEach(function (el) { el.textContent = el.dataset.zoneLabel || '(your time zone)'; });
    var article = document.querySelector('article.incident[data-stream]');
    if (article && window.EventSource) { live(article); }
    document.querySelectorAll('form.note').forEach(noteForm);
    var lists = document.getElementById('incident-lists');
    if (lists && window.fetch && window.DOMParser) { liveList(lists); }
  }

  // The editor's script (editor.js, loaded after this one) builds its rows with the same helpers.
  window.postmortemd = { textElement: textElement, findingText: findingText, ownFinding: ownFinding };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
