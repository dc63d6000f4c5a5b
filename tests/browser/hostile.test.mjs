// Hostile mail opened in the UI: HTML bodies, subjects, sender names and
// attachment file names that carry script payloads (<script>, onerror=, SVG
// onload, javascript: links, <meta http-equiv=refresh>, <base>, forms, CSS
// expression()/url(), remote images, frames, objects).  A canary — a flag
// on window, and a request to a listener on loopback that this test runs —
// must never fire, and no request may leave for any host but Vellum's own.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { login, searchFor, settled, watchForeign, watchConsole, canaryListener, apiLogin, hasRoute, waitIndexed, sleep, navClick } from './lib.mjs';

const b64 = (s) => Buffer.from(s, 'utf-8').toString('base64');

// `C` is the canary's URL; every payload pings it and sets the flag.
function payloads(C) {
  const js = (tag) => `try{window.vellumPwned=1;top.vellumPwned=1}catch(e){};fetch('${C}/${tag}')`;
  const html = `<!doctype html>
<html><head>
<meta http-equiv="refresh" content="0;url=${C}/meta-refresh">
<base href="${C}/base/">
<link rel="stylesheet" href="${C}/link.css">
<link rel="prefetch" href="${C}/prefetch">
<style>@import url("${C}/import.css");
body { background: url("${C}/css-bg.png"); width: expression(${js('expression')}); }
@font-face { font-family: evil; src: url("${C}/font.woff"); }
p { font-family: evil; }</style>
<script>${js('script')}</script>
<script src="${C}/script.js"></script>
</head><body onload="${js('onload')}">
<p>HOSTILE-BODY-TEXT: nothing in this message may run.</p>
<img src="x" onerror="${js('onerror')}">
<img src="${C}/remote.png" alt="remote">
<img src="relative.png" alt="relative to base">
<img srcset="${C}/srcset.png 1x" alt="srcset">
<svg xmlns="http://www.w3.org/2000/svg" onload="${js('svg-onload')}"><image href="${C}/svg-image.png" width="10" height="10"/></svg>
<a id="jslink" href="javascript:${js('javascript-link')}">javascript link</a>
<form id="form" action="${C}/form" method="post"><input name="q" value="x"><button id="formbtn" type="submit">Submit</button></form>
<iframe src="${C}/iframe"></iframe>
<object data="${C}/object"></object>
<embed src="${C}/embed">
<video poster="${C}/poster.png" src="${C}/video.mp4" autoplay></video>
<audio src="${C}/audio.mp3" autoplay></audio>
<div style="background-image:url('${C}/inline-style.png')">styled</div>
<input type="image" src="${C}/input-image.png" alt="input image">
<table background="${C}/table-bg.png"><tr><td>cell</td></tr></table>
<details open ontoggle="${js('ontoggle')}"><summary>details</summary>d</details>
<marquee onstart="${js('marquee')}">m</marquee>
</body></html>`;
  return { js, html };
}

function hostileMessages(C) {
  const { js, html } = payloads(C);
  const subject = `<img src=x onerror="${js('subject')}"><script>${js('subject-script')}</script> Invoice`;
  const evilName = `<svg onload=${js('sender-name')}> Evil`;
  const fnameScript = `"><img src=x onerror=${js('filename')}>.pdf`;
  const enc2231 = (s) => encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const one = [
    `From: "${evilName.replace(/"/g, '\\"')}" <evil@hostile.example>`,
    'To: victim@example.com',
    `Subject: =?utf-8?b?${b64(subject)}?=`,
    'Date: Thu, 26 Nov 2026 09:00:00 +0000', 'Message-ID: <hostile-1@hostile.example>', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="outer"', '',
    // An HTML-only body (no text/plain alternative): what the UI must show
    // as HTML, in the sandbox.
    '--outer', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64', '',
    b64(html).replace(/.{76}/g, '$&\r\n'), '',
    '--outer', 'Content-Type: application/pdf', `Content-Disposition: attachment; filename*=utf-8''${enc2231(fnameScript)}`,
    'Content-Transfer-Encoding: base64', '', b64('%PDF-1.4 hostile\n'), '',
    '--outer', 'Content-Type: text/html; name="javascript:alert(1).html"', 'Content-Disposition: attachment; filename="javascript:alert(1).html"', '',
    `<script>${js('html-attachment')}</script>`, '',
    '--outer', 'Content-Type: image/svg+xml; name="evil.svg"', 'Content-Disposition: attachment; filename="evil.svg"', '',
    `<svg xmlns="http://www.w3.org/2000/svg" onload="${js('svg-attachment')}"/>`, '',
    '--outer--', '',
  ].join('\r\n');
  const two = [
    'From: evil@hostile.example', 'To: victim@example.com',
    `Subject: <svg/onload=${js('subject2')}> javascript:${js('subject3')}`,
    'Date: Thu, 26 Nov 2026 09:05:00 +0000', 'Message-ID: <hostile-2@hostile.example>', 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8', '',
    `A plain text body that looks like markup: <script>${js('text-body')}</script>`,
    `<img src=x onerror="${js('text-body-img')}"> <a href="javascript:${js('text-link')}">x</a>`, '',
  ].join('\r\n');
  return {
    subject, evilName, fnameScript,
    msgs: [
      { from: 'evil@hostile.example', to: ['victim@example.com'], raw: one },
      { from: 'evil@hostile.example', to: ['victim@example.com'], raw: two },
    ],
  };
}

// Attributes that would make markup live.
const liveMarkup = () => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name) || /^\s*javascript:/i.test(a.value)) bad.push(`${el.tagName} ${a.name}=${a.value.slice(0, 60)}`);
    }
  }
  for (const s of document.querySelectorAll('script')) if (!/\/app\.js$/.test(s.src)) bad.push(`script ${s.src || s.textContent.slice(0, 60)}`);
  for (const f of document.querySelectorAll('iframe')) if (f.getAttribute('sandbox') !== '') bad.push(`iframe without a full sandbox: ${f.getAttribute('sandbox')}`);
  for (const i of document.querySelectorAll('main img')) bad.push(`img ${i.src}`);
  return bad;
};

async function flags(page) {
  const out = [];
  for (const f of page.frames()) {
    try {
      if (await f.evaluate(() => window.vellumPwned)) out.push(f.url());
    } catch (e) {
      /* a frame with scripting disabled has no context to evaluate in: nothing ran there either */
    }
  }
  return out;
}

export default async function (t, env) {
  const canary = await canaryListener();
  const H = hostileMessages(canary.url);
  const srv = await env.startServer({ messages: H.msgs });
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  const foreign = watchForeign(ctx, srv.url);
  const con = watchConsole(page);
  const bodyHeaders = [];
  page.on('response', (r) => {
    if (r.url().includes('/body?format=html')) bodyHeaders.push(r.headers());
  });
  page.on('dialog', (d) => {
    foreign.left.push(`dialog: ${d.message()}`);
    d.dismiss();
  });
  const admin = await apiLogin(srv, 'admin', srv.password);
  const haveBody = await hasRoute(srv, admin, 'GET', '/api/v1/messages/default-1/body?format=text');
  try {
    t.ok(await waitIndexed(srv, 'from:evil@hostile.example', 2), 'the hostile messages are indexed');
    await login(page, srv.url, 'admin', srv.password);
    t.eq(await searchFor(page, 'from:evil@hostile.example', 2), 2, 'the hostile messages are found');
    const subjects = await page.$$eval('table.results td.subj a', (as) => as.map((a) => a.textContent));
    t.ok(subjects.includes(H.subject), 'the subject with script payloads is shown as text, literally', JSON.stringify(subjects));
    const froms = await page.$$eval('table.results td.addr', (tds) => tds.map((td) => td.textContent));
    t.ok(froms.some((f) => f.includes('<svg onload=')), 'the sender name with a payload is shown as text', JSON.stringify(froms));
    t.ok((await page.evaluate(liveMarkup)).length === 0, 'the result list has no live markup from the mail', JSON.stringify(await page.evaluate(liveMarkup)));
    await page.screenshot({ path: join(env.artifacts, 'hostile-search.png'), fullPage: true });

    // ---- the HTML message ----
    await navClick(page, page.locator('table.results td.subj a', { hasText: 'Invoice' }));
    t.eq(await page.locator('#msg-subject').textContent(), H.subject, 'the message heading shows the subject as text');
    t.ok((await page.locator('dl.meta').first().innerText()).includes('<svg onload='), 'the sender name shows as text');
    const atts = await page.getByRole('table', { name: 'Attachments' }).innerText();
    t.ok(atts.includes(H.fnameScript) && atts.includes('javascript:alert(1).html'), 'hostile attachment file names show as text', atts);
    if (haveBody) {
      const frame = page.locator('iframe.body-html');
      await frame.waitFor();
      t.eq(await frame.getAttribute('sandbox'), '', 'the HTML body is in an iframe with sandbox="" (no allow-scripts, no allow-same-origin)');
      const fr = await (await frame.elementHandle()).contentFrame();
      await fr.waitForURL(/\/body\?format=html/).catch(() => {});
      await fr.waitForLoadState('load').catch(() => {});
      await sleep(300);
      t.ok((await frame.contentFrame().locator('body').innerText().catch(() => '')).includes('HOSTILE-BODY-TEXT'), 'the HTML body is displayed');
      // What a curious auditor would click inside the body.
      await frame.contentFrame().locator('#jslink').click({ timeout: 3000 }).catch(() => {});
      await frame.contentFrame().locator('#formbtn').click({ timeout: 3000 }).catch(() => {});
      await frame.contentFrame().locator('summary').click({ timeout: 3000 }).catch(() => {});
      await sleep(1500);
      const csp = (bodyHeaders[0] || {})['content-security-policy'] || '';
      t.ok(/sandbox/.test(csp) && !/allow-scripts/.test(csp), 'the HTML body is served with a CSP sandbox', csp);
      t.ok(/default-src 'none'/.test(csp) || /img-src[^;]*(cid|data)/.test(csp), 'and a CSP that blocks remote loads', csp);
      await page.screenshot({ path: join(env.artifacts, 'hostile-message.png'), fullPage: true });

      await page.getByRole('button', { name: 'Plain text' }).click();
      await page.locator('pre.body-text').waitFor();
      t.ok((await page.locator('pre.body-text').textContent()).length > 0, 'the text view shows');
    } else {
      t.skip('the HTML body in a sandboxed iframe (and clicks inside it)', 'GET /messages/{id}/body is not on this server yet');
      await page.screenshot({ path: join(env.artifacts, 'hostile-message.png'), fullPage: true });
    }
    // Raw source: every payload, as text.
    await page.locator('details.section summary', { hasText: 'Raw source' }).click();
    await page.waitForFunction(() => document.querySelector('pre.raw')?.textContent.includes('Content-Type'));
    t.ok((await page.locator('pre.raw').textContent()).includes('<script>'), 'the raw source shows the payloads as text');
    await page.locator('details.section summary', { hasText: 'All headers' }).click();
    t.ok((await page.evaluate(liveMarkup)).length === 0, 'the message page has no live markup from the mail', JSON.stringify(await page.evaluate(liveMarkup)));

    // Attachments download, never render.
    if (haveBody) {
      const before = page.url();
      for (const name of ['javascript:alert(1).html', 'evil.svg', H.fnameScript]) {
        const [d] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.getByRole('link', { name: `Download ${name}` }).click()]);
        t.ok(d && readFileSync(await d.path()).length > 0, `the attachment “${name.slice(0, 30)}” downloads instead of opening`);
      }
      t.eq(page.url(), before, 'the page did not navigate');
    }

    // ---- the plain-text message ----
    await page.evaluate(() => history.back());
    await settled(page);
    await navClick(page, page.locator('table.results td.subj a', { hasText: 'javascript:' }));
    t.ok((await page.locator('#msg-subject').textContent()).startsWith('<svg/onload='), 'the second subject shows as text');
    if (haveBody) {
      await page.locator('pre.body-text').waitFor();
      t.ok((await page.locator('pre.body-text').textContent()).includes('<script>'), 'a text body that looks like markup shows as text');
    }
    t.ok((await page.evaluate(liveMarkup)).length === 0, 'no live markup from the text message');

    // ---- the body document opened on its own (a new tab, a direct link) ----
    if (haveBody) {
      const p2 = await ctx.newPage();
      await p2.goto(`${srv.url}/api/v1/messages/default-1/body?format=html`);
      await sleep(1500);
      t.eq((await flags(p2)).length, 0, 'the body opened on its own as a page runs nothing (CSP sandbox)');
      await p2.close();
    }

    await sleep(500);
    t.eq((await flags(page)).length, 0, 'the window canary flag never fired (page and frames)');
    t.ok(canary.hits.length === 0, 'the canary listener on loopback was never reached', canary.hits.join('\n'));
    t.ok(foreign.left.length === 0, 'no request left for any host but Vellum’s own (and no dialog opened)', foreign.left.join('\n'));
    t.diag(`the browser blocked ${foreign.blocked.length} foreign loads and reported ${con.sandboxed.length} refusals in the sandboxed body`);
    t.ok(con.errors.length === 0, 'no script errors in the UI', con.errors.join('\n'));
  } finally {
    await ctx.close();
    await canary.close();
    t.eq(await srv.stop(), 0, 'server stopped cleanly (no sanitizer report)');
  }
}
