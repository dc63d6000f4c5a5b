// The administrator's pages: users (create with a grant and a generated
// password, grants, disable/enable, reset password), API tokens (shown once,
// usable as a bearer token, revoked), archives (create, edit), purge
// requests and approval by a second administrator, the quarantine page, the
// status strip (health, indexing lag, a silent journal feed), and the audit
// entries of these changes.
import { rawMessage, settled, watchConsole, apiLogin, hasRoute, waitIndexed, sleep, outcome, navClick } from './lib.mjs';

async function signIn(page, url, user, password) {
  await page.goto(`${url}/`);
  await page.getByLabel('User', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export default async function (t, env) {
  const config = '[archive "default"]\naddresses = *\n[archive "quiet"]\naddresses = *@quiet.example\nquiet_alert = 1s\n';
  const srv = await env.startServer({
    config,
    messages: [{ from: 'pat@example.com', to: ['legal@example.com'], raw: rawMessage({ subject: 'Purge me', from: 'pat@example.com' }) }],
    users: [{ name: 'admin2', password: 'admin2-password-1234', grants: [{ role: 'admin', archive: '*' }] }],
  });
  const admin = await apiLogin(srv, 'admin', srv.password);
  const has = {};
  for (const [k, p] of [['tokens', '/api/v1/tokens'], ['archives', '/api/v1/archives'], ['purges', '/api/v1/purges'], ['quarantine', '/api/v1/quarantine']]) has[k] = await hasRoute(srv, admin, 'GET', p);
  t.diag(`routes on this server: ${JSON.stringify(has)}`);
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  page.on('dialog', (d) => d.accept());
  const con = watchConsole(page);
  const other = await env.newContext();
  const op = await other.newPage();
  try {
    t.ok(await waitIndexed(srv, '*', 1), 'mail indexed');
    await signIn(page, srv.url, 'admin', srv.password);
    await page.locator('#q').waitFor();

    // ---- status strip ----
    await sleep(1200);
    await page.reload();
    await page.locator('#statusbar .item').first().waitFor();
    const strip = await page.locator('#statusbar').innerText();
    t.ok(/Health: /.test(strip), 'the status strip shows the health', strip);
    const hz = await (await fetch(`${srv.url}/healthz`)).json();
    if (Array.isArray(hz.archives)) {
      t.ok(/Indexing lag: 0 messages/.test(strip), 'and the indexing lag', strip);
      t.ok(/Silent journal feed: quiet/.test(strip) && /degraded/.test(strip), 'an archive quiet past its quiet_alert shows as a silent feed, health degraded', strip);
    } else {
      t.skip('indexing lag and silent feeds in the status strip', '/healthz does not report them on this server yet');
    }
    if (has.quarantine) t.ok(/Quarantined: 0/.test(strip), 'and the quarantined count', strip);

    // ---- users ----
    await navClick(page, page.getByRole('link', { name: 'Users', exact: true }));
    await page.getByLabel('Name').fill('uma');
    await page.getByLabel('Role').selectOption('auditor');
    await page.getByLabel('Archive').selectOption(has.archives ? 'default' : '*');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.locator('.secret').waitFor();
    const umaPw = (await page.locator('.secret').textContent()).trim();
    t.ok(umaPw.length >= 12, 'a new user gets a generated password, shown once');
    t.ok((await page.getByRole('table', { name: 'Users' }).innerText()).includes('uma'), 'the user is listed');
    await signIn(op, srv.url, 'uma', umaPw);
    await op.locator('#q').waitFor();
    t.ok(true, 'the new user signs in and lands on search');

    await navClick(page, page.getByRole('link', { name: 'Open uma' }));
    await page.getByLabel('Role').selectOption('legal');
    await page.getByRole('button', { name: 'Add grant' }).click();
    await page.locator('.notice.ok').waitFor();
    const grants = await page.getByRole('table', { name: 'Grants' }).innerText();
    t.ok(/legal/.test(grants) && /auditor/.test(grants), 'a grant is added', grants);
    await page.getByRole('button', { name: /Revoke auditor/ }).click();
    await page.waitForFunction(() => !document.querySelector('table[aria-label="Grants"]').innerText.includes('auditor'));
    t.ok(true, 'a grant is revoked');
    await page.getByRole('button', { name: 'Disable user' }).click();
    await page.getByRole('button', { name: 'Enable user' }).waitFor();
    await signIn(op, srv.url, 'uma', umaPw);
    await op.locator('.notice.error').waitFor();
    t.ok(/disabled/.test(await op.locator('.notice.error').innerText()), 'a disabled user cannot sign in');
    await page.getByRole('button', { name: 'Enable user' }).click();
    await page.getByRole('button', { name: 'Disable user' }).waitFor();
    await page.getByRole('button', { name: 'Reset password' }).click();
    await page.locator('.secret').waitFor();
    const umaPw2 = (await page.locator('.secret').textContent()).trim();
    t.ok(umaPw2 && umaPw2 !== umaPw, 'reset password generates a new one, shown once');
    await signIn(op, srv.url, 'uma', umaPw2);
    await op.locator('#logout').waitFor();
    t.ok(true, 're-enabled, uma signs in with the new password');

    // ---- API tokens ----
    if (has.tokens) {
      await navClick(page, page.getByRole('link', { name: 'API tokens' }));
      await page.getByLabel('Name').fill('ci-export');
      await page.getByLabel('Role').selectOption('auditor');
      await page.getByRole('button', { name: 'Create token' }).click();
      await page.locator('.secret').waitFor();
      const token = (await page.locator('.secret').textContent()).trim();
      t.ok(token.length > 20, 'a new API token is shown once');
      const r = await fetch(`${srv.url}/api/v1/search?q=purge`, { headers: { Authorization: `Bearer ${token}` } });
      t.eq(r.status, 200, 'it works as a bearer token');
      await page.getByRole('button', { name: 'Revoke token ci-export' }).click();
      await page.locator('.notice.ok', { hasText: 'revoked' }).waitFor();
      const r2 = await fetch(`${srv.url}/api/v1/search?q=purge`, { headers: { Authorization: `Bearer ${token}` } });
      t.eq(r2.status, 401, 'revoked, it is refused');
    } else {
      t.skip('API tokens', 'the token routes are not on this server yet');
    }

    // ---- archives ----
    if (has.archives) {
      await page.goto(`${srv.url}/#/archives`);
      await settled(page);
      const list = await page.getByRole('table', { name: 'Archives' }).innerText();
      t.ok(/default/.test(list) && /quiet/.test(list), 'the archives are listed', list);
      await navClick(page, page.getByRole('link', { name: 'New archive' }));
      await page.getByLabel('Name').fill('newarch');
      await page.getByLabel('Addresses').fill('*@new.example');
      await page.getByLabel('Retention', { exact: true }).fill('30d');
      await page.getByRole('button', { name: 'Create archive' }).click();
      let o = await outcome(page);
      t.ok(o.ok && (await page.locator('h1').textContent()).includes('newarch'), 'an archive is created', o.text);
      await page.getByLabel('Retention', { exact: true }).fill('60d');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await sleep(300);
      o = await outcome(page);
      t.ok(o.ok && /60d/.test(await page.getByLabel('Retention', { exact: true }).inputValue()), 'its retention is changed', o.text);
    } else {
      t.skip('archives: list, create, edit', 'the archive routes are not on this server yet');
    }

    // ---- purges ----
    if (has.purges) {
      await page.goto(`${srv.url}/#/purges`);
      await settled(page);
      await page.getByLabel('Message id').fill('default-1');
      await page.getByLabel('Reason').fill('Sent to the archive by mistake (ticket 42)');
      await page.getByRole('button', { name: 'Request purge' }).click();
      await page.locator('.notice.ok').waitFor();
      const row = page.getByRole('table', { name: 'Purge requests' });
      t.ok((await row.innerText()).includes('default-1'), 'a purge request is listed');
      t.ok(await page.getByRole('button', { name: /Approve purge request/ }).isDisabled(), 'its requester cannot approve it');
      const p2 = await (await env.newContext()).newPage();
      p2.on('dialog', (d) => d.accept());
      await signIn(p2, srv.url, 'admin2', 'admin2-password-1234');
      await p2.locator('#logout').waitFor();
      await p2.goto(`${srv.url}/#/purges`);
      await settled(p2);
      await p2.getByRole('button', { name: /Approve purge request/ }).click();
      await p2.locator('.notice.ok').waitFor();
      t.ok(/approved|done|purged/i.test(await p2.getByRole('table', { name: 'Purge requests' }).innerText()), 'a second administrator approves it');
      await p2.context().close();
    } else {
      t.skip('purge request and approval', 'the purge routes are not on this server yet');
    }

    // ---- quarantine ----
    if (has.quarantine) {
      await page.goto(`${srv.url}/#/quarantine`);
      await settled(page);
      t.ok(/Nothing is quarantined|Quarantined messages/.test(await page.locator('main').innerText()), 'the quarantine page lists what the indexer gave up on');
    } else {
      t.skip('the quarantine page', 'the quarantine route is not on this server yet');
    }

    // ---- the audit trail of it ----
    await page.goto(`${srv.url}/#/audit?user=admin`);
    await settled(page);
    const actions = await page.$$eval('table[aria-label="Audit entries"] tbody tr', (trs) => trs.map((tr) => tr.dataset.action));
    for (const a of ['user.create', 'user.grant', 'user.revoke', 'user.disable', 'user.enable', 'user.passwd']) t.ok(actions.includes(a), `audit: ${a}`, actions.join(' '));
    if (has.tokens) t.ok(actions.some((a) => /^token\./.test(a)), 'audit: the token', actions.join(' '));
    const chain = await page.locator('section', { hasText: 'Chain status' }).innerText();
    if (!/Cannot verify: no such resource/.test(chain)) t.ok(/Intact/.test(chain), 'the audit chain is shown intact', chain);
    t.ok(con.errors.length === 0 && con.csp.length === 0, 'no script errors or CSP violations', [...con.errors, ...con.csp].join('\n'));
  } finally {
    await ctx.close();
    await other.close();
    t.eq(await srv.stop(), 0, 'server stopped cleanly (no sanitizer report)');
  }
}
