// Accessibility, weight and headers, checked in the browser on every page:
// labels and names of controls, one h1, no positive tabindex, unique ids,
// text contrast (WCAG AA), focus order and a visible focus indicator, the
// skip link; the first page load under 300 KB; the security headers (CSP
// default-src 'self' without unsafe-inline, frame-ancestors 'none',
// Referrer-Policy no-referrer) on every page and asset, and no CSP
// violation anywhere; usable at 1280×800 and on a tablet (no sideways
// scrolling).  Screenshots of the tablet views are saved.
import { join } from 'node:path';
import { rawMessage, login, searchFor, settled, watchConsole, apiLogin, hasRoute, waitIndexed, sleep } from './lib.mjs';

// Runs in the page: problems with names, structure and contrast.
function audit() {
  const out = [];
  const visible = (el) => {
    if (!el.getClientRects().length) return false;
    const cs = getComputedStyle(el);
    return cs.visibility !== 'hidden' && cs.display !== 'none';
  };
  const srOnly = (el) => !!el.closest('.visually-hidden');
  const name = (el) => (el.getAttribute('aria-label') || '').trim() ||
    (el.getAttribute('aria-labelledby') || '').split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim() ||
    [...(el.labels || [])].map((l) => l.textContent).join(' ').trim() || (el.getAttribute('title') || '').trim() ||
    (el.getAttribute('alt') || '').trim();
  const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ')[0]}` : ''} "${(el.textContent || '').trim().slice(0, 30)}"`;
  if (!document.documentElement.lang) out.push('html has no lang');
  const h1s = [...document.querySelectorAll('h1')].filter((h) => visible(h) || srOnly(h));
  if (h1s.length !== 1) out.push(`${h1s.length} h1 elements`);
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || !visible(el)) continue;
    if (!name(el)) out.push(`control without a label: ${describe(el)}`);
  }
  for (const el of document.querySelectorAll('button, a[href], [role="button"], [role="option"]')) {
    if (!visible(el)) continue;
    if (!(el.textContent || '').trim() && !name(el)) out.push(`control without a name: ${describe(el)}`);
  }
  for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) out.push(`img without alt: ${el.src.slice(0, 40)}`);
  for (const el of document.querySelectorAll('[tabindex]')) if (parseInt(el.getAttribute('tabindex'), 10) > 0) out.push(`positive tabindex: ${describe(el)}`);
  const ids = new Map();
  for (const el of document.querySelectorAll('[id]')) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) out.push(`id ${id} used ${n} times`);
  for (const t of document.querySelectorAll('table')) if (visible(t) && !name(t) && !t.querySelector('caption')) out.push('table without a name');

  // Contrast of every visible piece of text against what is behind it.
  const rgba = (s) => {
    const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(s);
    return m ? [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]] : [0, 0, 0, 0];
  };
  const lum = ([r, g, b]) => {
    const f = (c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const blend = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] === 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const l of layers.reverse()) bg = blend(l, bg);
    return bg;
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim() || seen.has(el) || !visible(el) || srOnly(el) || el.closest('iframe, option, noscript')) continue;
    seen.add(el);
    if (el.closest('input, select, textarea') || (el.closest('button, .button') && el.closest('button, .button').matches(':disabled'))) continue;
    const cs = getComputedStyle(el);
    if (parseFloat(cs.opacity) === 0) continue;
    const fg = blend(rgba(cs.color), background(el));
    const bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(cs.fontWeight, 10) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`contrast ${ratio.toFixed(2)} for ${describe(el)} (${cs.color} on rgb(${bg.slice(0, 3).map(Math.round)}))`);
  }
  return out;
}

export default async function (t, env) {
  const msg = [
    'From: Pat <pat@example.com>', 'To: legal@example.com', 'Subject: Pelican contract draft',
    'Date: Tue, 24 Nov 2026 10:00:00 +0000', 'Message-ID: <a11y@browser.test>', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="zz"', '', '--zz', 'Content-Type: text/html; charset=utf-8', '',
    '<p>Draft of the <b>pelican</b> contract attached.</p>', '--zz', 'Content-Type: application/pdf; name="draft.pdf"',
    'Content-Disposition: attachment; filename="draft.pdf"', '', 'pdf', '--zz--', '',
  ].join('\r\n');
  const srv = await env.startServer({
    messages: [
      { from: 'pat@example.com', to: ['legal@example.com'], raw: msg },
      { from: 'sam@example.com', to: ['legal@example.com'], raw: rawMessage({ subject: 'Heron lunch', from: 'Sam <sam@example.com>', body: 'Lunch.' }) },
    ],
  });
  const admin = await apiLogin(srv, 'admin', srv.password);
  const has = async (p) => hasRoute(srv, admin, 'GET', p);
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  const con = watchConsole(page);
  const sizes = [];
  const headerProblems = [];
  page.on('response', async (r) => {
    if (!r.url().startsWith(srv.url)) return;
    const hd = r.headers();
    const path = new URL(r.url()).pathname;
    if (!path.startsWith('/api/') && path !== '/healthz') {
      const csp = hd['content-security-policy'] || '';
      if (!/default-src 'self'/.test(csp) || !/frame-ancestors 'none'/.test(csp) || /unsafe-(inline|eval)/.test(csp)) headerProblems.push(`${path}: CSP ${csp}`);
      if (hd['referrer-policy'] !== 'no-referrer') headerProblems.push(`${path}: Referrer-Policy ${hd['referrer-policy']}`);
    }
    try {
      sizes.push([path, (await r.body()).length]);
    } catch (e) {
      /* redirects, downloads */
    }
  });
  const weight = () => sizes.reduce((a, [, n]) => a + n, 0);
  try {
    t.ok(await waitIndexed(srv, '*', 2), 'mail indexed');
    // ---- the first load ----
    await page.goto(`${srv.url}/`);
    await page.waitForLoadState('networkidle');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const first = weight();
    t.ok(first < 300 * 1024, `the first page load is under 300 KB (${(first / 1024).toFixed(1)} KB in ${sizes.length} files)`, JSON.stringify(sizes));
    t.ok((await page.evaluate(audit)).length === 0, 'sign-in page: names, structure, contrast', (await page.evaluate(audit)).join('\n'));

    // Focus order on the sign-in page: skip link, brand, then the form in
    // reading order; every stop visible, with a focus ring.
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      const cs = getComputedStyle(el);
      return { what: (el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent).trim().slice(0, 20), ring: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2, shown: el.getClientRects().length > 0 };
    });
    t.eq((await focused()).what, 'User', 'the sign-in page starts with the cursor in User');
    const order = [];
    for (let i = 0; i < 2; i++) {
      await page.keyboard.press('Tab');
      order.push(await focused());
    }
    await page.getByLabel('User', { exact: true }).focus();
    for (let i = 0; i < 2; i++) {
      await page.keyboard.press('Shift+Tab');
      order.unshift(await focused());
    }
    const names = order.map((o) => o.what);
    t.eq(names.join(' → '), 'Skip to content → Vellum → Password → Sign in', 'Tab order: skip link, brand, (User), Password, Sign in');
    t.ok(order.every((o) => o.shown && o.ring), 'every focused element is visible with a focus ring', JSON.stringify(order));

    // ---- signed in: every page ----
    await page.getByLabel('User', { exact: true }).fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(srv.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#q').waitFor();
    await settled(page);
    await page.waitForLoadState('networkidle');
    const afterLogin = weight();
    t.ok(afterLogin < 300 * 1024, `signed in with the search page shown, still under 300 KB in all (${(afterLogin / 1024).toFixed(1)} KB)`);

    await searchFor(page, '*', 2);
    const pages = ['#/search?q=*', '#/message/default-1', '#/exports/new?q=pelican', '#/holds/new?q=pelican', '#/account', '#/users', '#/users/admin', '#/audit'];
    for (const [route, api] of [['#/exports', '/api/v1/exports'], ['#/holds', '/api/v1/holds'], ['#/archives', '/api/v1/archives'], ['#/archives/new', '/api/v1/archives'],
      ['#/tokens', '/api/v1/tokens'], ['#/purges', '/api/v1/purges'], ['#/quarantine', '/api/v1/quarantine']]) {
      if (await has(api)) pages.push(route);
      else t.diag(`${route}: not checked (${api} is not on this server yet)`);
    }
    for (const p of pages) {
      await page.goto(`${srv.url}/${p}`);
      await settled(page);
      await sleep(100);
      const problems = await page.evaluate(audit);
      t.ok(problems.length === 0, `${p}: names, structure, contrast`, problems.join('\n'));
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      t.ok(wide <= 0, `${p}: no sideways scrolling at 1280×800`, `${wide}px too wide`);
    }
    // The suggestion list and the help panel open, checked too.
    await page.goto(`${srv.url}/#/search?q=*`);
    await settled(page);
    await page.getByRole('button', { name: 'Syntax help' }).click();
    await page.locator('#q').fill('');
    await page.locator('#q').pressSequentially('t');
    await page.locator('.suggest li').first().waitFor();
    t.ok((await page.evaluate(audit)).length === 0, 'search with suggestions and help open: names, structure, contrast', (await page.evaluate(audit)).join('\n'));

    // Focus order on the search page follows the reading order.
    await page.locator('#q').press('Escape');
    await page.locator('#q').focus();
    const positions = [];
    for (let i = 0; i < 14; i++) {
      await page.keyboard.press('Tab');
      positions.push(await page.evaluate(() => {
        const el = document.activeElement;
        const all = [...document.querySelectorAll('*')];
        return [all.indexOf(el), el.id || el.textContent.trim().slice(0, 15), el.getClientRects().length > 0];
      }));
    }
    t.ok(positions.every((p, i) => i === 0 || p[0] > positions[i - 1][0]), 'on the search page Tab follows the reading order', positions.map((p) => p[1]).join(' → '));
    t.ok(positions.every((p) => p[2]), 'and never lands on something hidden');

    // The skip link moves focus into the page.
    await page.goto(`${srv.url}/#/search?q=*`);
    await settled(page);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    t.ok(await page.evaluate(() => !!document.activeElement.closest('main') && location.hash.startsWith('#/search')), 'the skip link moves focus to the page content without changing the page');

    // ---- a tablet ----
    for (const vp of [{ width: 768, height: 1024, name: 'tablet-portrait' }, { width: 1024, height: 768, name: 'tablet-landscape' }]) {
      const tctx = await env.newContext({ viewport: { width: vp.width, height: vp.height }, hasTouch: true, isMobile: true });
      const tp = await tctx.newPage();
      const tcon = watchConsole(tp);
      await tp.goto(`${srv.url}/`);
      await tp.getByLabel('User', { exact: true }).fill('admin');
      await tp.getByLabel('Password', { exact: true }).fill(srv.password);
      await tp.getByRole('button', { name: 'Sign in' }).tap();
      await tp.locator('#q').waitFor();
      await settled(tp);
      for (const p of ['#/search?q=*', '#/message/default-1', '#/audit']) {
        await tp.goto(`${srv.url}/${p}`);
        await settled(tp);
        await sleep(150);
        const wide = await tp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        t.ok(wide <= 0, `${vp.name} ${vp.width}×${vp.height} ${p}: no sideways scrolling`, `${wide}px too wide`);
        if (p.startsWith('#/search')) {
          t.ok(await tp.locator('table.results tbody tr').first().isVisible(), `${vp.name}: results are visible`);
          await tp.screenshot({ path: join(env.artifacts, `search-${vp.name}.png`), fullPage: true });
          await tp.locator('table.results td.subj a').first().tap();
          await settled(tp);
          t.ok(await tp.locator('#msg-subject').isVisible(), `${vp.name}: tapping a result opens it`);
        }
        if (p.startsWith('#/message')) await tp.screenshot({ path: join(env.artifacts, `message-${vp.name}.png`), fullPage: true });
      }
      t.ok(tcon.errors.length === 0 && tcon.csp.length === 0, `${vp.name}: no script errors or CSP violations`, [...tcon.errors, ...tcon.csp].join('\n'));
      await tctx.close();
    }

    t.ok(headerProblems.length === 0, 'every page and asset carries the CSP (default-src \'self\', frame-ancestors \'none\', no unsafe-inline) and Referrer-Policy: no-referrer', headerProblems.join('\n'));
    t.ok(con.csp.length === 0, 'no CSP violation on any page', con.csp.join('\n'));
    t.ok(con.errors.length === 0, 'no script errors', con.errors.join('\n'));
  } finally {
    await ctx.close();
    t.eq(await srv.stop(), 0, 'server stopped cleanly (no sanitizer report)');
  }
}
