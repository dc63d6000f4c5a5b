// view-audit.js — the audit trail (admin): filter by user, action and time,
// page through it, and the chain's verification status.

import { h, fill, field, notice, table, dl } from './dom.js';
import { api } from './api.js';
import { fmtTime, fmtCount, listOf } from './format.js';
import { go, focusHeading, hashFor } from './shell.js';

const PAGE = 200;

function detailText(e) {
  if (e.detail === undefined || e.detail === null) return '';
  return typeof e.detail === 'object' ? JSON.stringify(e.detail) : String(e.detail);
}

export async function list(ctx) {
  ctx.title('Audit log');
  const q = { user: ctx.query.get('user') || '', action: ctx.query.get('action') || '', since: ctx.query.get('since') || '', after: ctx.query.get('after') || '' };
  const fu = field('User', { value: q.user, name: 'user', hint: 'Exact name (cli:root for the command line).' });
  const fa = field('Action', { value: q.action, name: 'action', hint: 'Exact, or a prefix: login, search, message, export, hold, user …' });
  const fs = field('Since', { value: q.since, name: 'since', hint: '2026-01-31, 2026-01-31T12:00:00Z, or 24h / 7d ago.' });
  const form = h('form.filters', { role: 'search', 'aria-label': 'Filter the audit log' }, fu.row, fa.row, fs.row,
    h('div.actions', h('button', { type: 'submit', text: 'Filter' }), h('a.button.secondary', { href: '#/audit', text: 'Clear' })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(hashFor('/audit', { user: fu.input.value.trim(), action: fa.input.value.trim(), since: fs.input.value.trim() }));
  });
  const chain = h('section', { 'aria-labelledby': 'chain-h' }, h('h2#chain-h', 'Chain status'), h('p.status', 'Verifying…'));
  const listBox = h('div', h('p.status', 'Loading…'));
  fill(ctx.main, h('h1', 'Audit log'), form, chain, h('h2', 'Entries'), listBox);
  focusHeading(ctx.main);

  // The chain verification runs beside the listing.
  api('GET', '/api/v1/audit/verify').then((v) => {
    if (!ctx.live()) return;
    const ok = v.intact !== false && !v.problem_count;
    fill(chain, h('h2#chain-h', 'Chain status'),
      notice(ok ? 'ok' : 'error', ok ? `Intact: ${fmtCount(v.entries)} entries verified, every link and signature checks out.`
        : `Broken: ${fmtCount(v.problem_count)} problem(s), first at entry ${v.first_bad ?? '?'}.`),
      dl([['Entries', fmtCount(v.entries)], ['Head', v.head], ['Index rebuilt', v.index_rebuilt ? 'yes' : '']]),
      listOf(v.problems).length ? table([{ label: 'Entry', cell: (p) => String(p.seq ?? '') }, { label: 'Problem', cell: (p) => p.problem }], listOf(v.problems), { label: 'Chain problems' }) : null);
  }).catch((e) => {
    if (!ctx.live() || e.status === 401) return;
    fill(chain, h('h2#chain-h', 'Chain status'), notice('error', `Cannot verify: ${e.message}`));
  });

  const params = new URLSearchParams({ limit: String(PAGE) });
  for (const k of ['user', 'action', 'since', 'after']) if (q[k]) params.set(k, q[k]);
  let data;
  try {
    data = await api('GET', `/api/v1/audit?${params}`);
  } catch (e) {
    if (e.status === 401 || !ctx.live()) throw e;
    fill(listBox, notice('error', e.message));
    return;
  }
  if (!ctx.live()) return;
  const entries = listOf(data, 'entries');
  fill(listBox,
    h('p.status', { role: 'status' }, entries.length ? `${fmtCount(entries.length)} entries${q.after ? ` after #${q.after}` : ''}, oldest first` : 'No entries match.'),
    entries.length ? table([
      { label: '#', cell: (e) => String(e.seq ?? ''), cls: 'num' },
      { label: 'Time', cell: (e) => fmtTime(e.time), cls: 'nowrap' },
      { label: 'Who', cell: (e) => e.who || '' },
      { label: 'From', cell: (e) => e.from || '' },
      { label: 'Action', cell: (e) => e.action || '' },
      { label: 'Target', cell: (e) => e.target || '' },
      { label: 'Outcome', cell: (e) => e.outcome || '' },
      { label: 'Count', cell: (e) => (e.count === undefined ? '' : fmtCount(e.count)), cls: 'num' },
      { label: 'Details', cell: (e) => h('code', detailText(e)), cls: 'wrap' },
    ], entries, { label: 'Audit entries', rowHook: (tr, e) => { tr.dataset.action = e.action || ''; } }) : null,
    h('div.actions',
      q.after ? h('a.button.secondary', { href: hashFor('/audit', { ...q, after: '' }), text: 'From the start' }) : null,
      data.more ? h('a.button.secondary', { href: hashFor('/audit', { ...q, after: data.next_after }), text: 'Next entries' }) : null));
}
