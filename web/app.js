// Vellum UI — plain ES module, no build step, no third-party code.
//
// Safety rule for this file: message data is only ever put into the page with
// textContent / attributes set through the DOM, never with innerHTML, so a
// hostile subject or sender name cannot become markup.

const $ = (sel) => document.querySelector(sel);
const PAGE = 50;

const state = {
  user: sessionStorage.getItem('vellum.user'),
  csrf: sessionStorage.getItem('vellum.csrf'),
  results: [],
  selected: -1,
  query: '',
  offset: 0,
  total: 0,
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  let data = null;
  try {
    data = await r.json();
  } catch (e) {
    data = null;
  }
  if (r.status === 401 && path !== '/api/v1/session') {
    forgetSession();
    show('login');
    throw new ApiError(401, 'unauthenticated', 'Your session has ended; sign in again.');
  }
  if (!r.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(r.status, err.code || 'error', err.message || `HTTP ${r.status}`);
  }
  return data;
}

function forgetSession() {
  state.user = null;
  state.csrf = null;
  sessionStorage.removeItem('vellum.user');
  sessionStorage.removeItem('vellum.csrf');
}

function show(view) {
  for (const v of ['login', 'search', 'message']) $(`#${v}-view`).hidden = v !== view;
  const signedIn = !!state.user;
  $('#whoami').hidden = !signedIn;
  $('#logout').hidden = !signedIn;
  $('#whoami').textContent = signedIn ? state.user : '';
  if (view === 'login') $('#login-user').focus();
}

function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

function fmtSize(n) {
  if (typeof n !== 'number') return '';
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}

function addrText(a) {
  if (a == null) return '';
  if (Array.isArray(a)) return a.map(addrText).join(', ');
  if (typeof a === 'object') return a.name ? `${a.name} <${a.address}>` : a.address || '';
  return String(a);
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function renderResults() {
  const tbody = $('#results tbody');
  tbody.replaceChildren();
  state.results.forEach((h, i) => {
    const tr = document.createElement('tr');
    tr.tabIndex = 0;
    tr.dataset.id = h.id;
    cell(tr, fmtTime(h.received));
    cell(tr, addrText(h.from));
    cell(tr, addrText(h.to));
    cell(tr, h.subject || '(no subject)');
    cell(tr, fmtSize(h.size), 'size');
    tr.addEventListener('click', () => openMessage(h.id));
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') openMessage(h.id);
    });
    if (i === state.selected) tr.classList.add('selected');
    tbody.appendChild(tr);
  });
  $('#results').hidden = state.results.length === 0;
  const end = state.offset + state.results.length;
  $('#search-status').textContent = state.total
    ? `${state.offset + 1}–${end} of ${state.total} messages`
    : 'No messages match.';
  $('#pager').hidden = state.total <= PAGE;
  $('#prev').disabled = state.offset === 0;
  $('#next').disabled = end >= state.total;
}

async function runSearch(q, offset) {
  state.query = q;
  state.offset = offset;
  $('#q').value = q;
  $('#search-status').textContent = 'Searching…';
  const params = new URLSearchParams({ q, offset: String(offset), limit: String(PAGE) });
  try {
    const res = await api('GET', `/api/v1/search?${params}`);
    state.results = res.results || [];
    state.total = res.total || 0;
    state.selected = state.results.length ? 0 : -1;
    renderResults();
  } catch (e) {
    state.results = [];
    renderResults();
    $('#search-status').textContent = e.message;
  }
}

function dlRow(dl, label, value) {
  if (value === undefined || value === null || value === '') return;
  const dt = document.createElement('dt');
  dt.textContent = label;
  const dd = document.createElement('dd');
  dd.textContent = value;
  dl.append(dt, dd);
}

async function openMessage(id) {
  if (location.hash !== `#/message/${encodeURIComponent(id)}`) {
    location.hash = `#/message/${encodeURIComponent(id)}`;
    return;
  }
  show('message');
  $('#msg-subject').textContent = 'Loading…';
  try {
    const m = await api('GET', `/api/v1/messages/${encodeURIComponent(id)}`);
    const hdr = m.headers || {};
    $('#msg-subject').textContent = hdr.subject || m.subject || '(no subject)';
    const dl = $('#msg-meta');
    dl.replaceChildren();
    dlRow(dl, 'Id', m.id);
    dlRow(dl, 'From', addrText(hdr.from || m.from));
    dlRow(dl, 'To', addrText(hdr.to || m.to));
    dlRow(dl, 'Date', hdr.date || m.date);
    dlRow(dl, 'Received', fmtTime(m.received));
    dlRow(dl, 'Size', fmtSize(m.size));
    dlRow(dl, 'SHA-256', m.sha256);
    const arr = $('#msg-arrivals');
    arr.replaceChildren();
    for (const a of m.arrivals || []) {
      const adl = document.createElement('dl');
      adl.className = 'meta';
      dlRow(adl, 'Received', fmtTime(a.received));
      dlRow(adl, 'Listener', a.listener);
      dlRow(adl, 'Client', a.client_addr);
      dlRow(adl, 'HELO', a.helo);
      dlRow(adl, 'MAIL FROM', a.mail_from === '' ? '<>' : a.mail_from);
      dlRow(adl, 'RCPT TO', (a.rcpt || []).join(', '));
      arr.appendChild(adl);
    }
    const raw = Array.isArray(m.raw_headers) ? m.raw_headers.map((h) => `${h.name}: ${h.value}`).join('\n') : '';
    $('#msg-headers').textContent = raw;
    const dlink = $('#msg-download');
    dlink.href = `/api/v1/messages/${encodeURIComponent(id)}/raw`;
    dlink.setAttribute('download', `${id}.eml`);
  } catch (e) {
    $('#msg-subject').textContent = e.message;
  }
}

function route() {
  if (!state.user) {
    show('login');
    return;
  }
  const h = location.hash || '#/search';
  if (h.startsWith('#/message/')) {
    openMessage(decodeURIComponent(h.slice('#/message/'.length)));
    return;
  }
  show('search');
  const qs = new URLSearchParams(h.split('?')[1] || '');
  const q = qs.get('q') || '';
  const offset = parseInt(qs.get('offset') || '0', 10) || 0;
  if (q !== state.query || offset !== state.offset || !state.results.length) runSearch(q, offset);
  else renderResults();
}

function go(q, offset) {
  const qs = new URLSearchParams({ q });
  if (offset) qs.set('offset', String(offset));
  location.hash = `#/search?${qs}`;
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('#login-error').textContent = '';
  const user = $('#login-user').value;
  const password = $('#login-password').value;
  try {
    const res = await api('POST', '/api/v1/session', { user, password });
    state.user = res.user && res.user.name ? res.user.name : res.user || user;
    state.csrf = res.csrf_token;
    sessionStorage.setItem('vellum.user', state.user);
    sessionStorage.setItem('vellum.csrf', state.csrf || '');
    $('#login-password').value = '';
    route();
  } catch (err) {
    $('#login-error').textContent =
      err.status === 429 ? 'Too many attempts; wait a moment and try again.' : 'Wrong user or password.';
  }
});

$('#logout').addEventListener('click', async () => {
  try {
    await api('DELETE', '/api/v1/session');
  } catch (e) {
    /* the session is gone either way */
  }
  forgetSession();
  show('login');
});

$('#search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  go($('#q').value, 0);
});
$('#prev').addEventListener('click', () => go(state.query, Math.max(0, state.offset - PAGE)));
$('#next').addEventListener('click', () => go(state.query, state.offset + PAGE));

// j/k move through results, o or Enter opens (when focus is not in a text field).
document.addEventListener('keydown', (e) => {
  if ($('#search-view').hidden || e.target.matches('input, textarea')) return;
  if (!state.results.length) return;
  if (e.key === 'j' || e.key === 'k') {
    state.selected = Math.min(state.results.length - 1, Math.max(0, state.selected + (e.key === 'j' ? 1 : -1)));
    renderResults();
    const row = $('#results tbody').children[state.selected];
    if (row) row.focus();
  } else if ((e.key === 'o' || e.key === 'Enter') && state.selected >= 0) {
    openMessage(state.results[state.selected].id);
  }
});

window.addEventListener('hashchange', route);
route();
