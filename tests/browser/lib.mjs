// lib.mjs — helpers shared by the browser tests: the server fixture, signing
// in, waiting for the indexer, watching every request the browser makes,
// CSP violations, and a canary listener on loopback.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));

// Starts tests/browser/fixture.py; resolves to its JSON description plus
// stop() (resolves to the fixture's exit code: 0 = server stopped cleanly,
// no sanitizer report).
export function startServer(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [join(here, 'fixture.py')], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const rl = createInterface({ input: child.stdout });
    let resolved = false;
    rl.once('line', (line) => {
      resolved = true;
      let info;
      try {
        info = JSON.parse(line);
      } catch (e) {
        reject(new Error(`fixture said: ${line}`));
        return;
      }
      info.stop = () =>
        new Promise((res) => {
          if (child.exitCode !== null) {
            res(child.exitCode);
            return;
          }
          child.on('exit', (code) => res(code));
          child.stdin.end();
        });
      resolve(info);
    });
    child.on('exit', (code) => {
      if (!resolved) reject(new Error(`fixture exited ${code} before starting`));
    });
    child.stdin.write(JSON.stringify(spec) + '\n');
  });
}

// An RFC 5322 message with CRLF line ends.
export function rawMessage({ from, to = 'legal@example.com', subject, body = 'Hello.', date = 'Mon, 23 Nov 2026 09:00:00 +0000', msgid, headers = '', contentType = 'text/plain; charset=utf-8' }) {
  const id = msgid || `${subject.replace(/\W/g, '').slice(0, 40) || 'm'}.${Math.random().toString(36).slice(2)}@browser.test`;
  return `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: ${date}\r\nMessage-ID: <${id}>\r\n${headers}` +
    `MIME-Version: 1.0\r\nContent-Type: ${contentType}\r\n\r\n${body.replace(/\r?\n/g, '\r\n')}\r\n`;
}

// Watches every request the browser context makes (pages, frames, workers)
// to anywhere but `origin`.  Returns {left, blocked}: `left` are requests
// that got an answer or failed for a network reason (they left the browser)
// and navigations to foreign pages; `blocked` are attempts the browser
// stopped itself (CSP, sandbox) — nothing left for those.
export function watchForeign(ctx, origin) {
  const out = { left: [], blocked: [] };
  const own = (url) => url.startsWith(`${origin}/`) || url === origin || /^(data|blob|about|chrome-error):/.test(url);
  ctx.on('requestfinished', (r) => {
    if (!own(r.url())) out.left.push(r.url());
  });
  ctx.on('requestfailed', (r) => {
    if (own(r.url())) return;
    const why = (r.failure() && r.failure().errorText) || '';
    if (/BLOCKED|csp|ERR_ABORTED/i.test(why)) out.blocked.push(`${r.url()} (${why})`);
    else out.left.push(`${r.url()} (${why})`);
  });
  ctx.on('page', (p) => p.on('framenavigated', (f) => {
    if (!own(f.url())) out.left.push(`navigation: ${f.url()}`);
  }));
  return out;
}

// Collects console errors and CSP violations reported by the page.
export function watchConsole(page) {
  const out = { errors: [], csp: [] };
  out.sandboxed = [];
  page.on('console', (m) => {
    const t = m.text();
    const where = (m.location() && m.location().url) || '';
    // Messages from the message body's sandboxed frame: the browser saying
    // what it refused to do there.
    if (where.includes('/body?format=html') || /^Blocked (script execution|form submission)/.test(t)) out.sandboxed.push(t);
    else if (/Content Security Policy|Refused to/i.test(t)) out.csp.push(t);
    else if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (40[01345]|429)/.test(t)) out.errors.push(t);
  });
  page.on('pageerror', (e) => out.errors.push(`pageerror: ${e.message}`));
  return out;
}

// Waits until the page for the current URL has been shown (app.js marks
// <main> with aria-busy while loading and data-view when done).
export async function settled(page, timeout = 15000) {
  await page.waitForFunction(() => {
    const m = document.querySelector('#main');
    return m && !m.hasAttribute('aria-busy') && m.dataset.view === location.hash;
  }, null, { timeout });
}

// Clicks something that navigates (a link to another hash route) and waits
// until the new page is shown.
export async function navClick(page, locator) {
  const before = await page.evaluate(() => location.hash);
  await locator.click();
  await page.waitForFunction((b) => location.hash !== b, before);
  await settled(page);
}

export async function login(page, url, user, password, { expectOk = true } = {}) {
  await page.goto(`${url}/`);
  await page.getByLabel('User', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (expectOk) {
    await page.locator('#logout').waitFor({ state: 'visible' });
    await page.waitForFunction(() => location.hash.length > 2 && !location.hash.startsWith('#/login'));
    await settled(page);
  }
}

// Runs a search through the UI until it shows at least `want` rows (the
// indexer works behind SMTP); returns the row count.
export async function searchFor(page, q, want = 1, tries = 80) {
  const box = page.locator('#q');
  let rows = 0;
  await settled(page);
  if (!(await box.count())) {
    await page.evaluate(() => { location.hash = '#/search'; });
    await box.waitFor();
    await settled(page);
  }
  for (let i = 0; i < tries; i++) {
    await box.fill(q);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await settled(page);
    rows = await page.locator('table.results tbody tr').count();
    if (rows >= want) return rows;
    await page.waitForTimeout(250);
  }
  return rows;
}

// Waits until the server's own search (as the admin, over HTTP) finds
// `want` messages for q: the index has caught up.
export async function waitIndexed(srv, q, want, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  const cookie = await apiLogin(srv, 'admin', srv.password);
  while (Date.now() < deadline) {
    const r = await fetch(`${srv.url}/api/v1/search?q=${encodeURIComponent(q)}&limit=1`, { headers: { Cookie: cookie.cookie } });
    const j = await r.json().catch(() => ({}));
    if (r.ok && j.total >= want) return true;
    await new Promise((res) => setTimeout(res, 200));
  }
  return false;
}

// Logs in over HTTP (outside the browser): {cookie, csrf}.
export async function apiLogin(srv, user, password) {
  const r = await fetch(`${srv.url}/api/v1/session`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Origin: srv.url },
    body: JSON.stringify({ user, password }),
  });
  const j = await r.json().catch(() => ({}));
  const sc = r.headers.get('set-cookie') || '';
  return { cookie: sc.split(';')[0], csrf: j.csrf_token, status: r.status };
}

export async function apiCall(srv, sess, method, path, body) {
  const headers = { Cookie: sess.cookie, Accept: 'application/json' };
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = sess.csrf;
    headers.Origin = srv.url;
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${srv.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  try {
    json = await r.json();
  } catch (e) {
    json = null;
  }
  return { status: r.status, json, headers: r.headers };
}

// Does the server have this route?  (Routes land from other branches; a
// test of a page whose API is missing is skipped, and says so.)
export async function hasRoute(srv, sess, method, path) {
  const r = await apiCall(srv, sess, method, path, method === 'GET' ? undefined : {});
  return !(r.status === 404 && r.json && r.json.error && /no such resource/.test(r.json.error.message || '')) && r.status !== 405;
}

// An HTTP listener on loopback that records every request: the canary a
// hostile message tries to reach.
export async function canaryListener() {
  const hits = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Access-Control-Allow-Origin': '*' });
    res.end('canary');
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address();
  return { hits, port, url: `http://127.0.0.1:${port}`, close: () => new Promise((res) => server.close(res)) };
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// Waits for the page's next success or error notice; returns {ok, text}.
export async function outcome(page, timeout = 30000) {
  const n = page.locator('.notice.ok, .notice.error').first();
  await n.waitFor({ timeout });
  return { ok: (await n.getAttribute('class')).includes('ok'), text: await n.innerText() };
}
