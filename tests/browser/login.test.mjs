// Signing in: a wrong password, throttling feedback (429 + Retry-After), the
// two-factor code field for an account with TOTP, and the enrolment an
// administrator must go through when [http] require_totp_for_admin is on
// (the server draws the QR code; the otpauth URI is shown).
import { createHmac } from 'node:crypto';
import { rawMessage, settled, watchConsole, apiLogin, apiCall, hasRoute, sleep } from './lib.mjs';

// RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) from a base32 key.
export function totp(secret, at = Date.now()) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/[\s=]/g, '').toUpperCase()) bits += abc.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', key).update(msg).digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function fillLogin(page, user, password) {
  await page.getByLabel('User', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

// A code in the middle of a 30-second step, so it is still good when it
// reaches the server.
async function freshCode(secret) {
  const into = (Date.now() / 1000) % 30;
  if (into > 25) await sleep((31 - into) * 1000);
  return totp(secret);
}

export default async function (t, env) {
  const srv = await env.startServer({
    messages: [{ from: 'pat@example.com', to: ['legal@example.com'], raw: rawMessage({ subject: 'Pelican', from: 'pat@example.com' }) }],
    users: [{ name: 'tess', password: 'tess-password-1234', grants: [{ role: 'auditor', archive: '*' }] }],
  });
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  const con = watchConsole(page);
  const admin = await apiLogin(srv, 'admin', srv.password);
  const haveTotp = await hasRoute(srv, admin, 'POST', '/api/v1/users/nobody/totp');
  try {
    await page.goto(`${srv.url}/`);
    await fillLogin(page, 'tess', 'wrong-password-0000');
    await page.locator('.notice.error').waitFor();
    t.ok(/Wrong user name or password/.test(await page.locator('.notice.error').innerText()), 'a wrong password says so');
    t.ok(await page.getByLabel('User', { exact: true }).isVisible(), 'and the form stays');

    // ---- throttling ----
    let throttled = false;
    for (let i = 0; i < 8 && !throttled; i++) {
      await fillLogin(page, 'mallory', `guess-${i}-xxxxxxxx`);
      await page.locator('.notice.error').waitFor();
      await sleep(100);
      throttled = /Too many sign-in attempts/.test(await page.locator('.msg').innerText());
    }
    if (throttled) {
      const txt = await page.locator('.msg').innerText();
      t.ok(/Try again in \d+ s/.test(txt), 'throttling: the page says how long to wait', txt);
      t.ok(await page.getByRole('button', { name: 'Sign in' }).isDisabled(), 'and the button waits too');
      const n1 = parseInt(/in (\d+) s/.exec(txt)[1], 10);
      await sleep(2100);
      const n2 = parseInt(/in (\d+) s/.exec(await page.locator('.msg').innerText())[1], 10);
      t.ok(n2 < n1, 'the wait counts down', `${n1} -> ${n2}`);
    } else {
      t.skip('throttling feedback', 'this server never answered 429 to repeated failures');
    }

    // ---- an account with TOTP ----
    if (haveTotp) {
      const r = await apiCall(srv, admin, 'POST', '/api/v1/users/tess/totp');
      const secret = r.json && r.json.secret;
      t.ok(r.status === 201 && secret, 'tess is enrolled in TOTP (by the admin, through the API)');
      await page.goto(`${srv.url}/`);
      await page.reload();
      t.ok(await page.getByLabel('Two-factor code').isHidden(), 'the code field is not shown before it is needed');
      await fillLogin(page, 'tess', 'tess-password-1234');
      await page.getByLabel('Two-factor code').waitFor();
      t.ok(/two-factor/.test(await page.locator('.msg').innerText()), 'after the password the page asks for the two-factor code');
      await page.getByLabel('Two-factor code').fill('000000' === totp(secret) ? '111111' : '000000');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('.notice.error').waitFor();
      t.ok(/not accepted/.test(await page.locator('.msg').innerText()), 'a wrong code is refused, and the page says so');
      await page.getByLabel('Two-factor code').fill(await freshCode(secret));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#q').waitFor();
      t.ok(true, 'the right code signs in');
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
    } else {
      t.skip('two-factor code at sign-in', 'the TOTP routes are not on this server yet');
    }
    t.ok(con.errors.length === 0, 'no script errors', con.errors.join('\n'));
  } finally {
    await ctx.close();
    t.eq(await srv.stop(), 0, 'server stopped cleanly (no sanitizer report)');
  }

  // ---- enrolment required for administrators ----
  if (!haveTotp) {
    t.skip('enrolment required for administrators', 'the TOTP routes are not on this server yet');
    return;
  }
  const srv2 = await env.startServer({ config: 'require_totp_for_admin = yes\n', messages: [] });
  const ctx2 = await env.newContext();
  const p = await ctx2.newPage();
  const con2 = watchConsole(p);
  try {
    await p.goto(`${srv2.url}/`);
    await fillLogin(p, 'admin', srv2.password);
    await p.getByRole('heading', { name: 'Set up two-factor authentication' }).waitFor();
    t.ok(p.url().includes('#/account'), 'an administrator without TOTP lands on the enrolment page');
    t.ok(await p.locator('#nav').isHidden(), 'with nothing else to go to');
    await p.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    const img = p.locator('.qr img');
    await img.waitFor();
    t.ok((await img.getAttribute('src')).startsWith('data:image/svg+xml;base64,'), 'the server’s QR code is shown as an image');
    t.ok(await img.evaluate((el) => el.complete && el.naturalWidth > 0), 'and it renders');
    const uri = await p.locator('#totp-uri').textContent();
    t.ok(/^otpauth:\/\/totp\/Vellum:admin\?.*secret=/.test(uri), 'the otpauth URI is shown', uri);
    const secret = await p.locator('#totp-secret').textContent();
    t.ok(/^[A-Z2-7]{16,}$/.test(secret), 'and the key for typing in');
    await p.getByRole('link', { name: 'Continue' }).click();
    await p.locator('#q').waitFor();
    await settled(p);
    t.ok(await p.locator('#nav').isVisible(), 'after enrolling, the whole UI is there');
    await p.getByRole('button', { name: 'Log out' }).click();
    await fillLogin(p, 'admin', srv2.password);
    await p.getByLabel('Two-factor code').waitFor();
    await p.getByLabel('Two-factor code').fill(await freshCode(secret));
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator('#q').waitFor();
    t.ok(true, 'the next sign-in asks for the code and accepts it');
    t.ok(con2.errors.length === 0 && con2.csp.length === 0, 'no script errors or CSP violations', [...con2.errors, ...con2.csp].join('\n'));
  } finally {
    await ctx2.close();
    t.eq(await srv2.stop(), 0, 'server stopped cleanly (no sanitizer report)');
  }
}
