// view-quarantine.js — messages the indexer gave up on (they are archived
// and downloadable, only not searchable by content): list, retry.

import { h, fill, notice, table, link } from './dom.js';
import { api, enc } from './api.js';
import { fmtTime, fmtSize, listOf, pick } from './format.js';
import { focusHeading } from './shell.js';
import { refreshStatus } from './status.js';

export async function list(ctx) {
  ctx.title('Quarantine');
  fill(ctx.main, h('h1', 'Quarantined messages'), h('p.status', 'Loading…'));
  const data = await api('GET', '/api/v1/quarantine');
  if (!ctx.live()) return;
  const rows = listOf(data, 'messages', 'quarantine', 'results', 'entries');
  const msg = h('div.msg', { 'aria-live': 'polite' });
  fill(ctx.main, h('h1', 'Quarantined messages'),
    h('p', 'The indexer could not process these messages (a crash or a hang, twice). They are stored and verifiable, and can be opened and downloaded; their content is not searchable until a retry succeeds.'),
    msg,
    rows.length ? table([
      { label: 'Message', cell: (r) => { const id = pick(r, 'id', 'message_id'); return id ? link(`#/message/${enc(id)}`, id) : ''; } },
      { label: 'Archive', cell: (r) => r.archive || '' },
      { label: 'Received', cell: (r) => fmtTime(r.received) },
      { label: 'Size', cell: (r) => fmtSize(r.size), cls: 'num' },
      { label: 'Reason', cell: (r) => String(pick(r, 'reason', 'error', 'why') ?? '') },
      { label: 'Attempts', cell: (r) => String(pick(r, 'attempts', 'tries') ?? ''), cls: 'num' },
      { label: 'Since', cell: (r) => fmtTime(pick(r, 'since', 'quarantined', 'quarantined_at')) },
      { label: 'Retry', cell: (r) => {
        const id = pick(r, 'id', 'message_id');
        const b = h('button.secondary', { type: 'button', text: 'Retry', 'aria-label': `Retry indexing ${id}` });
        b.addEventListener('click', async () => {
          b.disabled = true;
          try {
            await api('POST', `/api/v1/quarantine/${enc(id)}/retry`, {});
            fill(msg, notice('ok', `${id} goes back to the indexer.`));
            refreshStatus();
          } catch (e) {
            b.disabled = false;
            if (e.status !== 401) fill(msg, notice('error', e.message));
          }
        });
        return b;
      } },
    ], rows, { label: 'Quarantined messages' }) : h('p', 'Nothing is quarantined.'),
    pick(data, 'total') > rows.length ? h('p', `${rows.length} of ${data.total} shown.`) : null);
  focusHeading(ctx.main);
}
