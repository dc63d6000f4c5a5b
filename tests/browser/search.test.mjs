// The auditor's basic path in a real browser: sign in, search by a word and by
// from:, open a message, download its .eml and compare its SHA-256 with what
// was sent over SMTP.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const raw = (subject, from, body) =>
  `From: ${from}\r\nTo: legal@example.com\r\nSubject: ${subject}\r\n` +
  `Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@browser.test>\r\n` +
  `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`;

export default async function (t, env) {
  const msgs = [
    { from: 'pat@example.com', to: ['legal@example.com'], raw: raw('Pelican merger terms', 'Pat <pat@example.com>', 'Pelican terms attached.') },
    { from: 'sam@example.com', to: ['legal@example.com'], raw: raw('Heron lunch', 'Sam <sam@example.com>', 'Lunch at noon.') },
  ];
  const srv = await env.startServer({ messages: msgs });
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  const external = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(srv.url) && !r.url().startsWith('data:')) external.push(r.url());
  });
  try {
    await page.goto(srv.url + '/');
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill(srv.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#q').waitFor();
    t.ok(true, 'signed in with the password from vellum init');

    // The indexer may still be working: retry the search a few times.
    let rows = 0;
    for (let i = 0; i < 60 && rows === 0; i++) {
      await page.locator('#q').fill('pelican');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.waitForTimeout(250);
      rows = await page.locator('#results tbody tr').count();
    }
    t.eq(rows, 1, 'search by a word finds one message');
    t.ok(page.url().includes('q=pelican'), 'the query is in the URL (bookmarkable)');

    await page.locator('#q').fill('from:sam@example.com');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('#results tbody tr td:nth-child(4)')?.textContent === 'Heron lunch');
    t.eq(await page.locator('#results tbody tr').count(), 1, 'search by from: finds one message');
    await page.screenshot({ path: join(env.artifacts, 'search.png'), fullPage: true });

    await page.locator('#results tbody tr').first().click();
    await page.locator('#msg-subject', { hasText: 'Heron lunch' }).waitFor();
    t.ok(true, 'the message opens');
    await page.screenshot({ path: join(env.artifacts, 'message.png'), fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download .eml' }).click(),
    ]);
    const path = await download.path();
    const got = createHash('sha256').update(readFileSync(path)).digest('hex');
    t.eq(got, srv.sha256[1], 'the downloaded .eml is byte-exact (SHA-256 as sent over SMTP)');

    const csp = (await page.request.get(srv.url + '/')).headers()['content-security-policy'] || '';
    t.ok(csp.includes("default-src 'self'"), 'the page is served with a strict CSP', csp);
    t.eq(external.length, 0, 'no request left for another host', external.join('\n'));
  } finally {
    await ctx.close();
    const code = await srv.stop();
    t.eq(code, 0, 'server stopped cleanly (no sanitizer report)');
  }
}
