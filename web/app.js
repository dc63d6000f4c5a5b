// Vellum UI — entry point: the router, the page shell, global keys.
//
// Plain ES modules, no build step, no third-party code, nothing loaded from
// anywhere but this server.  Each page lives in js/view-*.js and is loaded
// when first visited, so the first load stays small.  Safety rules: see
// js/dom.js (message data only ever enters the page as text or attribute
// values) and js/view-message.js (HTML bodies only in a sandboxed iframe).

import { $, $$, h, fill, notice } from './js/dom.js';
import { session, restoreSession, onSessionEnd, clearSession, api, isAdmin, canRead, canHold } from './js/api.js';
import { startStatus, stopStatus } from './js/status.js';
import { shell, go } from './js/shell.js';

// Routes: path pattern -> [module, export].  Paths live in the hash so a
// page (and a search with its query) can be bookmarked and shared.
const routes = [
  [/^\/login$/, 'login', 'render'],
  [/^\/search$/, 'search', 'render'],
  [/^\/message\/([^/]+)$/, 'message', 'render'],
  [/^\/exports$/, 'exports', 'list'],
  [/^\/exports\/new$/, 'exports', 'create'],
  [/^\/exports\/([^/]+)$/, 'exports', 'detail'],
  [/^\/holds$/, 'holds', 'list'],
  [/^\/holds\/new$/, 'holds', 'create'],
  [/^\/holds\/([^/]+)$/, 'holds', 'detail'],
  [/^\/archives$/, 'archives', 'list'],
  [/^\/archives\/new$/, 'archives', 'create'],
  [/^\/archives\/([^/]+)$/, 'archives', 'detail'],
  [/^\/users$/, 'users', 'list'],
  [/^\/users\/([^/]+)$/, 'users', 'detail'],
  [/^\/tokens$/, 'tokens', 'list'],
  [/^\/purges$/, 'purges', 'list'],
  [/^\/audit$/, 'audit', 'list'],
  [/^\/quarantine$/, 'quarantine', 'list'],
  [/^\/account$/, 'account', 'render'],
];

const main = $('#main');
const cleanups = [];
let renderSeq = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return { path, query };
}

function defaultPage() {
  if (session.enrolTotp) return '#/account?enrol=1';
  if (canRead()) return '#/search';
  if (isAdmin()) return '#/archives';
  return '#/account';
}

function updateShell(section) {
  const signed = !!session.user;
  $('#nav').hidden = !signed || session.enrolTotp;
  $('#whoami').hidden = !signed;
  $('#logout').hidden = !signed;
  $('#whoami').textContent = signed ? session.user : '';
  if (signed) $('#whoami').setAttribute('aria-label', `Account: ${session.user}`);
  const have = { read: canRead(), hold: canHold(), admin: isAdmin() };
  for (const li of $$('#nav li')) li.hidden = !li.dataset.need.split(' ').some((n) => have[n]);
  for (const a of $$('#nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (signed && !session.enrolTotp) startStatus($('#statusbar'));
  else stopStatus($('#statusbar'));
}

function runCleanups() {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch (e) {
      /* a page's cleanup failing must not stop the next page */
    }
  }
}

async function route() {
  const seq = ++renderSeq;
  runCleanups();
  // aria-busy while a page loads; data-view names the page once it is shown
  // (the browser tests wait on these).
  main.setAttribute('aria-busy', 'true');
  try {
    await render(seq);
  } finally {
    if (seq === renderSeq) {
      main.removeAttribute('aria-busy');
      main.dataset.view = location.hash;
    }
  }
}

async function render(seq) {
  let { path } = parseHash();
  const { query } = parseHash();
  if (!session.user && path !== '/login') {
    if (path !== '/' && path !== '') shell.returnTo = location.hash;
    path = '/login';
  }
  if (session.user && (path === '/' || path === '' || path === '/login')) {
    go(defaultPage(), true);
    return;
  }
  if (session.user && session.enrolTotp && path !== '/account') {
    go('#/account?enrol=1', true);
    return;
  }
  const r = routes.find(([re]) => re.test(path));
  const section = r ? r[1] : '';
  updateShell(section === 'message' ? 'search' : section);
  if (!r) {
    fill(main, h('h1', { tabindex: '-1', text: 'Not found' }), notice('error', `There is no page ${path}.`));
    return;
  }
  const [re, mod, fn] = r;
  const params = re.exec(path).slice(1).map((p) => decodeURIComponent(p));
  let view;
  try {
    view = await import(`./js/view-${mod}.js`);
  } catch (e) {
    fill(main, notice('error', `This page failed to load: ${e.message}`));
    return;
  }
  if (seq !== renderSeq) return; // another navigation overtook this one
  const ctx = {
    main,
    params,
    query,
    // Still the page on screen?  (Async work checks before touching the DOM.)
    live: () => seq === renderSeq,
    onLeave: (f) => cleanups.push(f),
    title: (t) => {
      document.title = t ? `${t} — Vellum` : 'Vellum';
    },
  };
  try {
    await view[fn](ctx);
  } catch (e) {
    if (e.status === 401) return; // the session-end listener shows the sign-in
    if (seq === renderSeq) fill(main, h('h1', { tabindex: '-1', text: 'Error' }), notice('error', e.message));
  }
}

onSessionEnd((had) => {
  const { path } = parseHash();
  if (path !== '/login') shell.returnTo = location.hash;
  shell.loginNote = had ? 'Your session has ended (signed out elsewhere or idle too long). Sign in again to continue where you were.' : '';
  updateShell('');
  go('#/login', true);
});

$('#logout').addEventListener('click', async () => {
  try {
    await api('DELETE', '/api/v1/session', undefined, { noExpire: true });
  } catch (e) {
    /* the session is gone either way */
  }
  clearSession();
  shell.returnTo = null;
  shell.loginNote = 'You have signed out.';
  go('#/login', true);
});

// The skip link moves focus to the page (its href would change the route).
$('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  const h1 = $('h1', main);
  (h1 || main).setAttribute('tabindex', '-1');
  (h1 || main).focus();
});

// "/" jumps to the search box from anywhere (not while typing).
document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest('input, textarea, select, [contenteditable]')) return;
  if (e.key === '/' && session.user && canRead()) {
    const q = $('#q');
    e.preventDefault();
    if (q) q.focus();
    else go('#/search');
  }
});

// Back to a tab that sat idle: ask the server whether the session still
// lives, so an ended session shows the sign-in form at once rather than at
// the next click.  (A 401 here goes through the session-end listener.)
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && session.user) {
    api('GET', '/api/v1/session').catch(() => {});
  }
});

shell.route = route;
shell.defaultPage = defaultPage;
window.addEventListener('hashchange', () => route());
await restoreSession();
route();
