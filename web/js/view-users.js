// view-users.js — users (admin): create with roles and archive grants,
// change grants, disable/enable, reset the password, manage two-factor.

import { h, fill, field, notice, table, dl, link } from './dom.js';
import { api, enc, session } from './api.js';
import { fmtTime, listOf, yesNo } from './format.js';
import { focusHeading } from './shell.js';
import { archiveOptions, grantPicker, grantText } from './grants.js';
import { enrolmentView } from './totp.js';

// A password for "reset": 20 characters from a 64-letter alphabet (120 bits).
function newPassword() {
  const abc = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.+!=';
  const v = crypto.getRandomValues(new Uint8Array(20));
  return [...v].map((x) => abc[x % abc.length]).join('');
}

const shownOnce = (label, secret) => h('div.notice.ok', { role: 'status' },
  h('p', label), h('p', h('span.secret', { text: secret })), h('p', 'Hand it over securely; it is not shown again.'));

export async function list(ctx) {
  ctx.title('Users');
  fill(ctx.main, h('h1', 'Users'), h('p.status', 'Loading…'));
  const [data, archives] = await Promise.all([api('GET', '/api/v1/users'), archiveOptions()]);
  if (!ctx.live()) return;
  const users = listOf(data, 'users');

  const fn = field('Name', { required: true, autocomplete: 'off', hint: 'Letters, digits, . _ @ + -' });
  const fp = field('Password', { type: 'password', autocomplete: 'new-password', hint: 'Leave empty to have one generated.' });
  const picker = grantPicker(archives, 'First grant');
  const msg = h('div.msg');
  const form = h('form.form', { 'aria-labelledby': 'nu-h' }, h('h2#nu-h', 'New user'), fn.row, fp.row, picker.row,
    h('div.actions', h('button', { type: 'submit', text: 'Create user' })), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    fill(msg);
    const body = { name: fn.input.value.trim(), grants: [picker.value()] };
    if (fp.input.value) body.password = fp.input.value;
    try {
      const r = await api('POST', '/api/v1/users', body);
      fill(msg, r.password ? shownOnce(`User ${body.name} created. Password:`, r.password) : notice('ok', `User ${body.name} created.`),
        h('p', link(`#/users/${enc(body.name)}`, `Open ${body.name}`)));
      fn.input.value = '';
      fp.input.value = '';
      refreshTable();
    } catch (err) {
      if (err.status === 401) return;
      fill(msg, notice('error', `Not created: ${err.message}`));
    }
  });
  const tableBox = h('div');
  const paint = (us) => fill(tableBox, table([
    { label: 'User', cell: (u) => link(`#/users/${enc(u.name)}`, u.name) },
    { label: 'Grants', cell: (u) => listOf(u.grants).map(grantText).join('; ') || 'none' },
    { label: 'Two-factor', cell: (u) => (u.totp === undefined ? '' : yesNo(u.totp)) },
    { label: 'State', cell: (u) => (u.disabled ? 'disabled' : 'active') },
    { label: 'Created', cell: (u) => fmtTime(u.created) },
  ], us, { label: 'Users' }));
  const refreshTable = async () => paint(listOf(await api('GET', '/api/v1/users'), 'users'));
  paint(users);
  fill(ctx.main, h('h1', 'Users'), tableBox, form);
  focusHeading(ctx.main);
}

export async function detail(ctx) {
  const name = ctx.params[0];
  ctx.title(`User ${name}`);
  const base = `/api/v1/users/${enc(name)}`;
  const [u0, archives] = await Promise.all([api('GET', base).catch((e) => e), archiveOptions()]);
  if (!ctx.live()) return;
  if (u0 instanceof Error) {
    if (u0.status === 401) throw u0;
    fill(ctx.main, link('#/users', '← All users'), h('h1', `User ${name}`), notice('error', u0.message));
    return;
  }
  let u = u0;
  const msg = h('div.msg', { 'aria-live': 'polite' });
  const say = (...n) => fill(msg, ...n);
  const patch = async (body, okText) => {
    try {
      u = await api('PATCH', base, body);
      paint();
      say(notice('ok', okText));
    } catch (e) {
      if (e.status !== 401) say(notice('error', e.message));
    }
  };

  const grantsBox = h('div');
  const infoBox = h('div');
  const paint = () => {
    fill(infoBox, dl([
      ['State', u.disabled ? 'disabled' : 'active'],
      ['Two-factor', u.totp === undefined ? '' : yesNo(u.totp)],
      ['Created', fmtTime(u.created)],
      ['Password changed', fmtTime(u.password_changed)],
    ]));
    const gs = listOf(u.grants);
    fill(grantsBox, gs.length ? table([
      { label: 'Role', cell: (g) => g.role },
      { label: 'Archive', cell: (g) => (g.archive === '*' ? 'all archives (*)' : g.archive) },
      { label: 'Revoke', cell: (g) => {
        const b = h('button.secondary', { type: 'button', text: 'Revoke', 'aria-label': `Revoke ${grantText(g)}` });
        b.addEventListener('click', () => patch({ revoke: [{ role: g.role, archive: g.archive }] }, `Revoked ${grantText(g)}.`));
        return b;
      } },
    ], gs, { label: 'Grants' }) : h('p', 'No grants: this user can do nothing yet.'));
    disableBtn.textContent = u.disabled ? 'Enable user' : 'Disable user';
  };

  const picker = grantPicker(archives, 'Add a grant');
  const addForm = h('form.form', picker.row, h('div.actions', h('button', { type: 'submit', text: 'Add grant' })));
  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const g = picker.value();
    patch({ grant: [g] }, `Granted ${grantText(g)}.`);
  });

  const disableBtn = h('button.secondary', { type: 'button' });
  disableBtn.addEventListener('click', () => {
    if (!u.disabled && name === session.user && !window.confirm('Disable your own account? You will be signed out.')) return;
    patch({ disabled: !u.disabled }, u.disabled ? 'Enabled.' : 'Disabled; the user’s sessions ended.');
  });

  const fpw = field('New password', { type: 'password', autocomplete: 'new-password', hint: 'Leave empty to generate one.' });
  const pwForm = h('form.form', fpw.row, h('div.actions', h('button', { type: 'submit', text: 'Reset password' })));
  pwForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const typed = !!fpw.input.value;
    const pw = fpw.input.value || newPassword();
    try {
      u = await api('PATCH', base, { password: pw });
      paint();
      fpw.input.value = '';
      say(typed ? notice('ok', 'Password changed.') : shownOnce(`New password for ${name}:`, pw));
    } catch (err) {
      if (err.status !== 401) say(notice('error', err.message));
    }
  });

  const totpEnrol = h('button.secondary', { type: 'button', text: 'Enrol two-factor for this user' });
  const totpRemove = h('button.secondary', { type: 'button', text: 'Remove two-factor' });
  totpEnrol.addEventListener('click', async () => {
    try {
      const r = await api('POST', `${base}/totp`);
      u.totp = true;
      paint();
      say(enrolmentView(r));
    } catch (e) {
      if (e.status !== 401) say(notice('error', e.message));
    }
  });
  totpRemove.addEventListener('click', async () => {
    if (!window.confirm(`Remove two-factor authentication from ${name}?`)) return;
    try {
      await api('DELETE', `${base}/totp`);
      u.totp = false;
      paint();
      say(notice('ok', 'Two-factor removed.'));
    } catch (e) {
      if (e.status !== 401) say(notice('error', e.message));
    }
  });

  paint();
  fill(ctx.main, link('#/users', '← All users'), h('h1', `User ${name}`), infoBox, msg,
    h('h2', 'Roles and archive grants'), grantsBox, addForm,
    h('h2', 'Account'), h('div.actions', disableBtn, totpEnrol, totpRemove),
    h('h3', 'Reset password'), pwForm);
  focusHeading(ctx.main);
}
