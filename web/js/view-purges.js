// view-purges.js — purges (admin): request the deletion of one message
// before its retention ends (with a reason), list requests, approve one
// (governance mode: a second administrator must approve).

import { h, fill, field, notice, table, link } from './dom.js';
import { api, enc, session } from './api.js';
import { fmtTime, listOf, pick } from './format.js';
import { focusHeading } from './shell.js';

const numOf = (p) => pick(p, 'n', 'number', 'seq', 'request');
const stateOf = (p) => String(pick(p, 'state', 'status') || (p.approved_by ? 'approved' : 'pending'));

export async function list(ctx) {
  ctx.title('Purges');
  fill(ctx.main, h('h1', 'Purge requests'), h('p.status', 'Loading…'));
  const data = await api('GET', '/api/v1/purges');
  if (!ctx.live()) return;
  const msg = h('div.msg', { 'aria-live': 'polite' });
  const box = h('div');
  const paint = (rows) => fill(box, rows.length ? table([
    { label: 'Request', cell: (p) => String(numOf(p) ?? '') },
    { label: 'Message', cell: (p) => { const id = pick(p, 'id', 'message', 'message_id'); return id ? link(`#/message/${enc(id)}`, id) : ''; } },
    { label: 'Reason', cell: (p) => p.reason || '' },
    { label: 'Requested', cell: (p) => `${fmtTime(pick(p, 'requested', 'created'))}${pick(p, 'requested_by', 'created_by') ? ` by ${pick(p, 'requested_by', 'created_by')}` : ''}` },
    { label: 'State', cell: (p) => stateOf(p) },
    { label: 'Approved', cell: (p) => (p.approved_by ? `${fmtTime(pick(p, 'approved', 'approved_at'))} by ${p.approved_by}` : '') },
    { label: 'Action', cell: (p) => {
      if (!/pending|requested|open/i.test(stateOf(p))) return '';
      const mine = pick(p, 'requested_by', 'created_by') === session.user;
      const b = h('button.danger', { type: 'button', text: 'Approve', disabled: mine, title: mine ? 'A different administrator must approve' : undefined, 'aria-label': `Approve purge request ${numOf(p)}` });
      b.addEventListener('click', async () => {
        if (!window.confirm(`Approve purge request ${numOf(p)}? The message is deleted for good.`)) return;
        try {
          await api('POST', `/api/v1/purges/${enc(numOf(p))}/approve`, {});
          fill(msg, notice('ok', `Purge request ${numOf(p)} approved.`));
          refresh();
        } catch (e) {
          if (e.status !== 401) fill(msg, notice('error', e.message));
        }
      });
      return b;
    } },
  ], rows, { label: 'Purge requests' }) : h('p', 'No purge requests.'));
  const refresh = async () => paint(listOf(await api('GET', '/api/v1/purges'), 'purges', 'requests'));

  const fid = field('Message id', { required: true, hint: 'As shown on the message, e.g. default-42.' });
  const fr = field('Reason', { kind: 'textarea', required: true });
  const form = h('form.form', { 'aria-labelledby': 'np-h' }, h('h2#np-h', 'Request a purge'),
    h('p', 'Deletes one message before its retention ends. Held messages cannot be purged. Another administrator must approve.'),
    fid.row, fr.row, h('div.actions', h('button', { type: 'submit', text: 'Request purge' })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('POST', '/api/v1/purges', { id: fid.input.value.trim(), reason: fr.input.value.trim() });
      fill(msg, notice('ok', `Purge request ${numOf(r) ?? ''} recorded; it waits for another administrator’s approval.`));
      fid.input.value = '';
      fr.input.value = '';
      refresh();
    } catch (err) {
      if (err.status !== 401) fill(msg, notice('error', `Not requested: ${err.message}`));
    }
  });
  paint(listOf(data, 'purges', 'requests'));
  fill(ctx.main, h('h1', 'Purge requests'), msg, box, form);
  focusHeading(ctx.main);
}
