// The search page's tools: field suggestions as you type, the syntax help
// panel, quick filters (archive, last 12 h / 7 d / 30 d / custom range, by
// received or sent date, has attachment), sorting (menu and column
// headers), paging with totals, errors in a query.
import { rawMessage, login, searchFor, settled, navClick, watchConsole, waitIndexed, sleep } from './lib.mjs';

const DAY = 86400000;
const rfc2822 = (ms) => new Date(ms).toUTCString().replace('GMT', '+0000');
const ymd = (ms) => new Date(ms).toISOString().slice(0, 10);

function attachmentMsg(i, date) {
  return [
    `From: Robin <robin@example.com>`, 'To: legal@example.com', `Subject: Report ${String(i).padStart(2, '0')} with figures`,
    `Date: ${date}`, `Message-ID: <report-${i}@browser.test>`, 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'Figures attached.', '--b',
    `Content-Type: text/csv; name="figures-${i}.csv"`, `Content-Disposition: attachment; filename="figures-${i}.csv"`, '', 'a,b', '--b--', '',
  ].join('\r\n');
}

export default async function (t, env) {
  const now = Date.now();
  const ages = (i) => (i < 10 ? 2 : i < 20 ? 20 : 60); // days before now, by the Date header
  const msgs = [];
  for (let i = 0; i < 30; i++) {
    const date = rfc2822(now - ages(i) * DAY - i * 60000);
    const raw = i % 5 === 0 ? attachmentMsg(i, date)
      : rawMessage({ subject: `Report ${String(i).padStart(2, '0')}`, from: 'Robin <robin@example.com>', date, body: `Weekly report number ${i}.` });
    msgs.push({ from: 'robin@example.com', to: ['legal@example.com'], raw });
  }
  const srv = await env.startServer({ messages: msgs });
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  const con = watchConsole(page);
  const rows = () => page.locator('table.results tbody tr').count();
  const status = () => page.locator('p.status').innerText();
  try {
    t.ok(await waitIndexed(srv, '*', 30), 'thirty messages are indexed');
    await login(page, srv.url, 'admin', srv.password);

    // ---- suggestions ----
    const q = page.locator('#q');
    await q.fill('');
    await q.pressSequentially('fr');
    await page.locator('.suggest li').first().waitFor();
    t.eq(await q.getAttribute('aria-expanded'), 'true', 'typing opens the suggestion list (aria-expanded)');
    t.ok((await page.locator('.suggest li').allTextContents()).some((s) => s.startsWith('from:')), 'fr suggests from:');
    await q.press('ArrowDown');
    t.ok(((await q.getAttribute('aria-activedescendant')) || '').length > 0, 'arrow keys move through the suggestions (aria-activedescendant)');
    await q.press('Enter');
    t.eq(await q.inputValue(), 'from:', 'Enter takes the suggestion');
    await q.fill('');
    await q.pressSequentially('has:a');
    await page.locator('.suggest li').first().waitFor();
    await q.press('Tab');
    t.eq(await q.inputValue(), 'has:attachment ', 'values are suggested too (has:attachment), Tab takes the only one');
    await q.fill('');
    await q.pressSequentially('-b');
    await page.locator('.suggest li').first().waitFor();
    t.ok((await page.locator('.suggest li').allTextContents()).some((s) => s.startsWith('bcc:')) &&
      (await page.locator('.suggest li').allTextContents()).some((s) => s.startsWith('body:')), 'after a minus, bcc: and body: are suggested');
    await q.press('Escape');
    t.ok(await page.locator('.suggest').isHidden(), 'Escape closes the list');
    t.eq(await q.inputValue(), '-b', 'and keeps what was typed');

    // ---- help ----
    const helpBtn = page.getByRole('button', { name: 'Syntax help' });
    await helpBtn.click();
    t.ok(await page.locator('#search-help').isVisible(), 'the syntax help panel opens');
    t.eq(await helpBtn.getAttribute('aria-expanded'), 'true', 'its button says so (aria-expanded)');
    const helpText = await page.locator('#search-help').innerText();
    t.ok(['from:', 'bcc:', 'has:', 'received:', 'OR', 'date:'].every((w) => helpText.includes(w)), 'the help lists fields and operators');
    await navClick(page, page.locator('#search-help a', { hasText: 'received:24h' }));
    t.eq(await q.inputValue(), 'received:24h', 'a help example runs as a search');
    t.ok(/of 30/.test(await status()), 'and finds what it says', await status());
    await page.locator('table.results tbody tr').first().focus();
    const before = await page.locator('#search-help').isVisible();
    await page.keyboard.press('?');
    t.eq(await page.locator('#search-help').isVisible(), !before, 'the ? key toggles the help');

    // ---- paging and totals ----
    t.eq(await searchFor(page, 'from:robin@example.com', 30), 30, '30 results on one page of 50');
    await page.getByLabel('Per page').selectOption('25');
    await settled(page);
    t.eq(await rows(), 25, 'per page: 25 rows');
    t.ok(/Messages 1–25 of 30/.test(await status()), 'the total is shown', await status());
    t.ok(/Page 1 of 2/.test(await page.locator('nav.pager').innerText()), 'the pager says page 1 of 2');
    await navClick(page, page.getByRole('link', { name: 'Next' }));
    t.eq(await rows(), 5, 'the next page has the remaining 5');
    t.ok(/Messages 26–30 of 30/.test(await status()) && page.url().includes('offset=25'), 'and its place is in the URL', page.url());
    await navClick(page, page.getByRole('link', { name: 'Previous' }));
    t.eq(await rows(), 25, 'Previous goes back');

    // ---- sorting ----
    const subjects = () => page.$$eval('table.results td.subj a', (as) => as.map((a) => a.textContent));
    await page.getByLabel('Per page').selectOption('50');
    await settled(page);
    await page.getByLabel('Sort', { exact: true }).selectOption('date');
    await settled(page);
    const oldest = await subjects();
    t.ok(oldest[0].startsWith('Report 29') && page.url().includes('sort=date'), 'sort by date, oldest first', oldest.slice(0, 3).join(' | '));
    await page.getByLabel('Sort', { exact: true }).selectOption('-date');
    await settled(page);
    t.ok((await subjects())[0].startsWith('Report 00'), 'newest first');
    await navClick(page, page.locator('thead a.sort', { hasText: 'Date' }));
    t.ok((await subjects())[0].startsWith('Report 29'), 'the Date column header toggles the order');
    t.eq(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'ascending', 'and says so (aria-sort)');
    await navClick(page, page.locator('thead a.sort', { hasText: 'Received' }));
    t.ok(page.url().includes('sort=-received'), 'the Received header sorts by arrival', page.url());

    // ---- quick filters ----
    await searchFor(page, 'from:robin@example.com', 30);
    await page.getByLabel('Date', { exact: true }).selectOption('7d');
    await settled(page);
    t.ok(page.url().includes('when=7d'), 'last 7 days is in the URL');
    t.eq(await rows(), 30, 'all 30 were received in the last 7 days');
    await page.getByLabel('By').selectOption('date');
    await settled(page);
    t.eq(await rows(), 10, 'by the Date header, 10 were sent in the last 7 days');
    await page.getByLabel('Date', { exact: true }).selectOption('30d');
    await settled(page);
    t.eq(await rows(), 20, '20 in the last 30 days');
    await page.getByLabel('Date', { exact: true }).selectOption('12h');
    await settled(page);
    t.eq(await rows(), 0, 'none in the last 12 hours');
    t.ok(/No messages match/.test(await status()), 'which the page says');
    await page.getByLabel('Date', { exact: true }).selectOption('custom');
    await page.getByLabel('From', { exact: true }).fill(ymd(now - 70 * DAY));
    await page.getByLabel('To', { exact: true }).fill(ymd(now - 10 * DAY));
    await page.getByLabel('To', { exact: true }).dispatchEvent('change');
    await settled(page);
    t.eq(await rows(), 20, 'a custom range (70 to 10 days ago) finds the 20 older ones');
    t.ok(page.url().includes('dfrom=') && page.url().includes('dto='), 'the range is in the URL');
    await page.getByLabel('Has attachment').check();
    await settled(page);
    t.eq(await rows(), 4, 'with has-attachment, 4 of them');
    const all = await subjects();
    t.ok(all.every((s) => s.includes('with figures')), 'all with attachments', all.join(' | '));
    // The same URL, reloaded, gives the same filtered page.
    await page.reload();
    await settled(page);
    t.eq(await rows(), 4, 'the filtered search survives a reload (all in the URL)');
    t.ok(await page.getByLabel('Has attachment').isChecked(), 'with its filters shown');

    // ---- a query with a mistake ----
    await searchFor(page, 'from:(robin', 0, 1);
    const err = await page.locator('.notice.error').innerText().catch(() => '');
    t.ok(/problem/i.test(err), 'a query that does not parse says what is wrong', err);
    t.ok(con.errors.length === 0, 'no script errors', con.errors.join('\n'));
  } finally {
    await ctx.close();
    t.eq(await srv.stop(), 0, 'server stopped cleanly (no sanitizer report)');
  }
}
