// api.js — the JSON API (DESIGN.md §5) and the signed-in session.
//
// Every call goes to our own origin.  State-changing calls carry the CSRF
// token the login (or GET /api/v1/session) handed out; the browser adds the
// same-origin Origin header itself.  A 401 on anything but the login means
// the session ended (idle/absolute limit, logout elsewhere, server restart):
// we tell the app, which shows the sign-in form and comes back to the page
// the user was on.

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    Object.assign(this, extra);
  }
}

export const session = {
  user: null,
  grants: [],
  csrf: null,
  enrolTotp: false,
};

const listeners = new Set();
export const onSessionEnd = (fn) => listeners.add(fn);

export function setSession(data, fallbackUser) {
  const u = data && data.user;
  session.user = (u && typeof u === 'object' ? u.name : u) || fallbackUser || null;
  session.grants = (data && (data.grants || (u && u.grants))) || [];
  if (data && data.csrf_token) session.csrf = data.csrf_token;
  session.enrolTotp = !!(data && (data.enrol_totp || data.totp_enrol || data.totp_enrolment_required ||
                                  data.must_enrol_totp || data.totp_required_enrol));
  try {
    sessionStorage.setItem('vellum.session', JSON.stringify({ user: session.user, grants: session.grants, csrf: session.csrf }));
  } catch (e) {
    /* private mode: the GET /api/v1/session route covers reloads */
  }
}

export function clearSession() {
  session.user = null;
  session.grants = [];
  session.csrf = null;
  session.enrolTotp = false;
  try {
    sessionStorage.removeItem('vellum.session');
  } catch (e) {
    /* nothing stored */
  }
}

function savedSession() {
  try {
    return JSON.parse(sessionStorage.getItem('vellum.session') || 'null');
  } catch (e) {
    return null;
  }
}

// Roles: admin, auditor, legal, ingest; per archive or '*'.
export function hasRole(role, archive) {
  return session.grants.some((g) => g.role === role && (g.archive === '*' || !archive || g.archive === archive));
}
export const isAdmin = () => session.grants.some((g) => g.role === 'admin');
export const canRead = () => hasRole('auditor') || hasRole('legal');
export const canHold = () => hasRole('legal');
// Archives the user may read, or ['*'].
export function readableArchives() {
  const s = new Set();
  for (const g of session.grants) if (g.role === 'auditor' || g.role === 'legal') s.add(g.archive);
  return s.has('*') ? ['*'] : [...s].sort();
}

async function parse(r) {
  const ct = r.headers.get('Content-Type') || '';
  if (ct.includes('json')) {
    try {
      return await r.json();
    } catch (e) {
      return null;
    }
  }
  return null;
}

// api('GET', '/api/v1/search?...') -> parsed JSON.  Throws ApiError.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  const data = await parse(r);
  if (r.status === 401 && !opts.noExpire) {
    const had = !!session.user;
    clearSession();
    for (const fn of listeners) fn(had);
    throw new ApiError(401, 'unauthorized', 'Your session has ended; sign in again.');
  }
  if (r.status === 403 && data && data.error && data.error.code === 'totp_enrolment_required') {
    // [http] require_totp_for_admin: this session may only enrol.
    session.enrolTotp = true;
    location.hash = '#/account?enrol=1';
  }
  if (!r.ok) {
    const err = (data && data.error) || {};
    const ra = parseInt(r.headers.get('Retry-After') || '', 10);
    throw new ApiError(r.status, err.code || `http_${r.status}`, err.message || `HTTP ${r.status}`,
                       { retryAfter: Number.isFinite(ra) ? ra : undefined, data });
  }
  return data || {};
}

// The text of a non-JSON resource (message bodies, raw source), up to max
// bytes, as {text, truncated}.
export async function fetchText(path, max = 4 << 20) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (r.status === 401) {
    const had = !!session.user;
    clearSession();
    for (const fn of listeners) fn(had);
    throw new ApiError(401, 'unauthorized', 'Your session has ended; sign in again.');
  }
  if (!r.ok) {
    const data = await parse(r);
    const err = (data && data.error) || {};
    throw new ApiError(r.status, err.code || `http_${r.status}`, err.message || `HTTP ${r.status}`);
  }
  const reader = r.body.getReader();
  const chunks = [];
  let n = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    if (n >= max) {
      truncated = true;
      reader.cancel();
      break;
    }
  }
  const all = new Uint8Array(Math.min(n, max));
  let o = 0;
  for (const c of chunks) {
    const take = Math.min(c.length, all.length - o);
    all.set(c.subarray(0, take), o);
    o += take;
  }
  return { text: new TextDecoder('utf-8', { fatal: false }).decode(all), truncated };
}

// Restores the session on page load: GET /api/v1/session when the server
// has it; otherwise what this tab remembered (checked by the first call).
export async function restoreSession() {
  try {
    const data = await api('GET', '/api/v1/session', undefined, { noExpire: true });
    setSession(data);
    return true;
  } catch (e) {
    if (e.status === 401) {
      clearSession();
      return false;
    }
    const saved = savedSession();
    if (saved && saved.user) {
      session.user = saved.user;
      session.grants = saved.grants || [];
      session.csrf = saved.csrf || null;
      return true;
    }
    return false;
  }
}

export const enc = encodeURIComponent;
