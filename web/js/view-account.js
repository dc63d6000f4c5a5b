// view-account.js — your account: who you are and what you may do, change
// your password, two-factor enrolment (also the page a session lands on
// when [http] require_totp_for_admin makes an administrator enrol first).

import { h, fill, field, notice, dl, table } from './dom.js';
import { api, enc, session, setSession } from './api.js';
import { fmtTime } from './format.js';
import { focusHeading, shell } from './shell.js';
import { enrolmentView } from './totp.js';

export async function render(ctx) {
  ctx.title('Your account');
  const me = session.user;
  const forced = session.enrolTotp;
  let u = null;
  try {
    u = await api('GET', `/api/v1/users/${enc(me)}`);
  } catch (e) {
    if (e.status === 401) throw e;
  }
  if (!ctx.live()) return;
  const enrolled = u ? !!(u.totp || u.totp_enrolled) : null;

  // ---- two-factor ----
  const totpBox = h('div');
  const enrolBtn = h('button', { type: 'button', text: enrolled ? 'Replace two-factor key' : 'Set up two-factor authentication' });
  const code = field('Current code (to replace the key)', { inputmode: 'numeric', autocomplete: 'one-time-code', name: 'code' });
  code.row.hidden = !enrolled || forced;
  const totpMsg = h('div.msg');
  enrolBtn.addEventListener('click', async () => {
    enrolBtn.disabled = true;
    fill(totpMsg);
    try {
      const body = code.row.hidden || !code.input.value ? undefined : { code: code.input.value.replace(/\s+/g, '') };
      const r = await api('POST', `/api/v1/users/${enc(me)}/totp`, body);
      session.enrolTotp = false;
      fill(totpBox, enrolmentView(r), h('div.actions',
        h('a.button', { href: shell.defaultPage(), text: 'Continue' })));
      totpBox.querySelector('img, .secret')?.scrollIntoView({ block: 'nearest' });
      // Refresh what the server says about this session (no longer held to enrolment).
      try {
        setSession(await api('GET', '/api/v1/session'));
      } catch (e) {
        /* older servers: the login answer stays */
      }
      document.getElementById('nav').hidden = false;
    } catch (e) {
      enrolBtn.disabled = false;
      if (e.status === 401) return;
      fill(totpMsg, notice('error', `Two-factor set-up failed: ${e.message}`));
    }
  });
  fill(totpBox,
    forced ? notice('warn', 'An administrator must use two-factor authentication on this server. Set it up to continue.') : null,
    enrolled === null ? null : h('p', enrolled ? 'Two-factor authentication is on for your account.' : 'Two-factor authentication is off for your account.'),
    code.row, h('div.actions', enrolBtn), totpMsg);

  // ---- password ----
  const cur = field('Current password', { type: 'password', autocomplete: 'current-password', required: true });
  const pw1 = field('New password', { type: 'password', autocomplete: 'new-password', required: true, hint: 'At least 12 characters.' });
  const pw2 = field('New password again', { type: 'password', autocomplete: 'new-password', required: true });
  const pwMsg = h('div.msg');
  const pwForm = h('form.form', { 'aria-labelledby': 'pw-h' }, h('h2#pw-h', 'Change your password'),
    cur.row, pw1.row, pw2.row, h('div.actions', h('button', { type: 'submit', text: 'Change password' })), pwMsg);
  pwForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    fill(pwMsg);
    if (pw1.input.value !== pw2.input.value) {
      fill(pwMsg, notice('error', 'The two new passwords differ.'));
      pw2.input.focus();
      return;
    }
    try {
      await api('PATCH', `/api/v1/users/${enc(me)}`, { password: pw1.input.value, current_password: cur.input.value });
      for (const f of [cur, pw1, pw2]) f.input.value = '';
      fill(pwMsg, notice('ok', 'Your password was changed.'));
    } catch (err) {
      if (err.status === 401) return;
      fill(pwMsg, notice('error', err.status === 403 ? 'The current password is wrong.' : `Not changed: ${err.message}`));
    }
  });

  fill(ctx.main, h('h1', forced ? 'Set up two-factor authentication' : `Your account: ${me}`),
    forced ? null : dl([
      ['User', me],
      ['Created', u && fmtTime(u.created)],
      ['Password changed', u && fmtTime(u.password_changed)],
    ]),
    forced ? null : h('h2', 'What you may do'),
    forced ? null : (session.grants.length
      ? table([{ label: 'Role', cell: (g) => g.role }, { label: 'Archive', cell: (g) => (g.archive === '*' ? 'all archives' : g.archive) }], session.grants, { label: 'Your grants' })
      : h('p', 'You have no roles yet; ask an administrator.')),
    h('section', { 'aria-labelledby': 'totp-h' }, h('h2#totp-h', 'Two-factor authentication'), totpBox),
    forced ? null : pwForm);
  focusHeading(ctx.main);
}
