// view-holds.js — legal holds: create one from the current search, list
// them with the number of messages each keeps, release one with a reason.

import { h, fill, field, notice, table, dl, link } from './dom.js';
import { api, enc, canHold } from './api.js';
import { fmtTime, fmtCount, listOf, pick } from './format.js';
import { go, focusHeading, hashFor } from './shell.js';

const countOf = (x) => pick(x, 'message_count', 'count', 'messages', 'held');
const released = (x) => x.active === false || !!(pick(x, 'released', 'released_at') || /released/i.test(String(pick(x, 'state', 'status') || '')));
// {at, by, reason} of a release, whichever way the server puts it.
const releaseOf = (x) => {
  const r = x.released && typeof x.released === 'object' ? x.released : {};
  return { at: pick(r, 'at', 'time') ?? (typeof x.released === 'string' ? x.released : x.released_at), by: pick(r, 'by', 'user') ?? x.released_by, reason: pick(r, 'reason') ?? x.release_reason };
};
const creatorOf = (x) => pick(x, 'creator', 'created_by');
const archivesOf = (x) => {
  const a = [].concat(pick(x, 'archives', 'archive') || []);
  return a.length ? a.join(', ') : 'all';
};
const countText = (x) => (countOf(x) === undefined ? 'unknown' : `${x.message_count_exact === false ? 'about ' : ''}${fmtCount(countOf(x))}`);

export async function list(ctx) {
  ctx.title('Legal holds');
  fill(ctx.main, h('h1', 'Legal holds'), h('p.status', 'Loading…'));
  const data = await api('GET', '/api/v1/holds');
  if (!ctx.live()) return;
  const holds = listOf(data, 'holds');
  const active = holds.filter((x) => !released(x));
  const old = holds.filter(released);
  const cols = [
    { label: 'Hold', cell: (x) => link(`#/holds/${enc(x.name)}`, x.name) },
    { label: 'Query', cell: (x) => h('code', String(pick(x, 'query', 'q') ?? '')) },
    { label: 'Archive', cell: archivesOf },
    { label: 'Messages', cell: countText, cls: 'num' },
    { label: 'Created', cell: (x) => `${fmtTime(pick(x, 'created', 'created_at'))}${creatorOf(x) ? ` by ${creatorOf(x)}` : ''}` },
    { label: 'Reason', cell: (x) => x.reason || '' },
  ];
  fill(ctx.main, h('h1', 'Legal holds'),
    h('p', 'A hold keeps every message its query matches past its retention until the hold is released. ',
      canHold() ? 'To place one, search for the mail and choose “Place a legal hold”, or ' : '',
      canHold() ? link('#/holds/new', 'start with an empty query') : ''),
    h('h2', `Active (${active.length})`),
    active.length ? table(cols, active, { label: 'Active holds' }) : h('p', 'No active holds.'),
    old.length ? h('h2', `Released (${old.length})`) : null,
    old.length ? table([...cols.slice(0, 3), { label: 'Released', cell: (x) => `${fmtTime(releaseOf(x).at)}${releaseOf(x).by ? ` by ${releaseOf(x).by}` : ''}` },
      { label: 'Release reason', cell: (x) => releaseOf(x).reason || '' }], old, { label: 'Released holds' }) : null);
  focusHeading(ctx.main);
}

export async function create(ctx) {
  ctx.title('New legal hold');
  const fn = field('Name', { required: true, name: 'name', pattern: '[a-z0-9][a-z0-9._\\-]{0,63}', hint: 'Lower case letters, digits, . _ - (e.g. acme-litigation).' });
  const fq = field('Query', { value: ctx.query.get('q') || '', required: true, name: 'query' });
  const fa = field('Archives', { value: ctx.query.get('archive') || '', name: 'archives', hint: 'Comma-separated; empty: every archive.' });
  const ff = field('From (optional)', { type: 'date', name: 'from', hint: 'Limits the hold to mail of this period.' });
  const ft = field('Until (optional)', { type: 'date', name: 'to' });
  const fr = field('Reason', { kind: 'textarea', required: true, name: 'reason', hint: 'Recorded with the hold and in the audit trail (matter, case number, requester).' });
  const submit = h('button', { type: 'submit', text: 'Place hold' });
  const msg = h('div.msg');
  const form = h('form.form', { 'aria-labelledby': 'hold-h' }, fn.row, fq.row, fa.row, h('div.cols', ff.row, ft.row), fr.row,
    h('div.actions', submit, link('#/holds', 'Cancel')), msg);
  fill(ctx.main, h('h1#hold-h', 'New legal hold'), form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(msg);
    const body = { name: fn.input.value.trim(), query: fq.input.value.trim(), reason: fr.input.value.trim() };
    if (fa.input.value.trim()) body.archives = fa.input.value.split(/[\s,]+/).filter(Boolean);
    if (ff.input.value) body.from = ff.input.value;
    if (ft.input.value) body.to = ft.input.value;
    try {
      const r = await api('POST', '/api/v1/holds', body);
      go(`#/holds/${enc((r && r.name) || body.name)}`);
    } catch (err) {
      submit.disabled = false;
      if (err.status === 401) return;
      fill(msg, notice('error', `The hold was not placed: ${err.message}`));
    }
  });
  focusHeading(ctx.main);
}

export async function detail(ctx) {
  const name = ctx.params[0];
  ctx.title(`Hold ${name}`);
  const base = `/api/v1/holds/${enc(name)}`;
  fill(ctx.main, link('#/holds', '← All holds'), h('h1', `Legal hold ${name}`), h('p.status', 'Loading…'));
  let x;
  try {
    x = await api('GET', base);
  } catch (e) {
    if (e.status === 401 || !ctx.live()) throw e;
    fill(ctx.main, link('#/holds', '← All holds'), h('h1', `Legal hold ${name}`), notice('error', e.status === 404 ? 'There is no such hold.' : e.message));
    return;
  }
  if (!ctx.live()) return;
  x = x.hold && typeof x.hold === 'object' ? x.hold : x;
  const isReleased = released(x);
  const q = String(pick(x, 'query', 'q') ?? '');
  const fr = field('Reason for the release', { kind: 'textarea', required: true, name: 'reason' });
  const submit = h('button.danger', { type: 'submit', text: 'Release hold' });
  const msg = h('div.msg');
  const form = h('form.form', { 'aria-labelledby': 'rel-h' }, h('h2#rel-h', 'Release'),
    h('p', 'Released messages fall back to their archive’s retention. The release and its reason are recorded in the audit trail.'),
    fr.row, h('div.actions', submit), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!fr.input.value.trim()) return;
    submit.disabled = true;
    try {
      await api('POST', `${base}/release`, { reason: fr.input.value.trim() });
      go(`#/holds/${enc(name)}?released=1`, true);
    } catch (err) {
      submit.disabled = false;
      if (err.status === 401) return;
      fill(msg, notice('error', `The hold was not released: ${err.message}`));
    }
  });
  fill(ctx.main, link('#/holds', '← All holds'), h('h1', `Legal hold ${name}`),
    ctx.query.get('released') ? notice('ok', 'The hold was released.') : null,
    dl([
      ['State', isReleased ? 'released' : 'active'],
      ['Query', q],
      ['Archive', archivesOf(x)],
      ['From', pick(x, 'from')],
      ['Until', pick(x, 'to')],
      ['Messages held', countText(x)],
      ['Reason', x.reason],
      ['Created', `${fmtTime(pick(x, 'created', 'created_at'))}${creatorOf(x) ? ` by ${creatorOf(x)}` : ''}`],
      ['Released', isReleased ? `${fmtTime(releaseOf(x).at)}${releaseOf(x).by ? ` by ${releaseOf(x).by}` : ''}` : ''],
      ['Release reason', isReleased ? releaseOf(x).reason : ''],
    ]),
    h('p', link(hashFor('/search', { q: `hold:${name}` }), 'Search the messages under this hold')),
    isReleased || !canHold() ? null : form);
  focusHeading(ctx.main);
}
