// view-tokens.js — API tokens (admin): list, create with grants and an
// expiry (the token is shown once), revoke.

import { h, fill, field, notice, table } from './dom.js';
import { api, enc } from './api.js';
import { fmtTime, listOf } from './format.js';
import { focusHeading } from './shell.js';
import { archiveOptions, grantPicker, grantText } from './grants.js';

export async function list(ctx) {
  ctx.title('API tokens');
  fill(ctx.main, h('h1', 'API tokens'), h('p.status', 'Loading…'));
  const [data, archives] = await Promise.all([api('GET', '/api/v1/tokens'), archiveOptions()]);
  if (!ctx.live()) return;
  const box = h('div');
  const msg = h('div.msg', { 'aria-live': 'polite' });
  const paint = (tokens) => fill(box, tokens.length ? table([
    { label: 'Token', cell: (t) => t.name },
    { label: 'Grants', cell: (t) => listOf(t.grants).map(grantText).join('; ') },
    { label: 'Created', cell: (t) => `${fmtTime(t.created)}${t.created_by ? ` by ${t.created_by}` : ''}` },
    { label: 'Last used', cell: (t) => fmtTime(t.last_used) || 'never' },
    { label: 'Expires', cell: (t) => fmtTime(t.expires) || 'never' },
    { label: 'Revoke', cell: (t) => {
      const b = h('button.secondary', { type: 'button', text: 'Revoke', 'aria-label': `Revoke token ${t.name}` });
      b.addEventListener('click', async () => {
        if (!window.confirm(`Revoke token ${t.name}? Programs using it stop working.`)) return;
        try {
          await api('DELETE', `/api/v1/tokens/${enc(t.name)}`);
          fill(msg, notice('ok', `Token ${t.name} revoked.`));
          refresh();
        } catch (e) {
          if (e.status !== 401) fill(msg, notice('error', e.message));
        }
      });
      return b;
    } },
  ], tokens, { label: 'API tokens' }) : h('p', 'No API tokens.'));
  const refresh = async () => paint(listOf(await api('GET', '/api/v1/tokens'), 'tokens'));

  const fn = field('Name', { required: true, hint: 'What uses it, e.g. siem-export.' });
  const picker = grantPicker(archives, 'Grant');
  const fe = field('Expires', { hint: 'A date (2027-01-01) or a period (90d); empty: never.' });
  const form = h('form.form', { 'aria-labelledby': 'nt-h' }, h('h2#nt-h', 'New token'), fn.row, picker.row, fe.row,
    h('div.actions', h('button', { type: 'submit', text: 'Create token' })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: fn.input.value.trim(), grants: [picker.value()] };
    if (fe.input.value.trim()) body.expires = fe.input.value.trim();
    try {
      const r = await api('POST', '/api/v1/tokens', body);
      fill(msg, h('div.notice.ok', { role: 'status' }, h('p', `Token ${body.name} created. Use it as “Authorization: Bearer …”:`),
        h('p', h('span.secret', { text: r.token || '' })), h('p', 'It is shown only this once.')));
      fn.input.value = '';
      fe.input.value = '';
      refresh();
    } catch (err) {
      if (err.status !== 401) fill(msg, notice('error', `Not created: ${err.message}`));
    }
  });
  paint(listOf(data, 'tokens'));
  fill(ctx.main, h('h1', 'API tokens'), msg, box, form);
  focusHeading(ctx.main);
}
