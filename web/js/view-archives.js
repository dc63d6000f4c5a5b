// view-archives.js — archives (admin): list with size, message count,
// retention, compliance mode, addresses and last message received; create
// one; change one (compliance mode is one way); delete one.

import { h, fill, field, notice, table, dl, link } from './dom.js';
import { api, enc } from './api.js';
import { fmtTime, fmtSize, fmtCount, fmtRetention, listOf, pick, yesNo } from './format.js';
import { go, focusHeading } from './shell.js';

const statsOf = (a) => a.stats || a;
const msgs = (a) => pick(statsOf(a), 'messages', 'message_count', 'count');
const bytes = (a) => pick(statsOf(a), 'bytes', 'size', 'stored_bytes');
const lastRx = (a) => pick(statsOf(a), 'last_received', 'last_message');
const listText = (v) => [].concat(v || []).join(', ');
const splitList = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

export async function list(ctx) {
  ctx.title('Archives');
  fill(ctx.main, h('h1', 'Archives'), h('p.status', 'Loading…'));
  const data = await api('GET', '/api/v1/archives');
  if (!ctx.live()) return;
  const rows = listOf(data, 'archives').filter((a) => !String(a.name).startsWith('_'));
  fill(ctx.main, h('h1', 'Archives'),
    h('div.actions', link('#/archives/new', 'New archive', { class: 'button' })),
    rows.length ? table([
      { label: 'Archive', cell: (a) => link(`#/archives/${enc(a.name)}`, a.name) },
      { label: 'Messages', cell: (a) => fmtCount(msgs(a)), cls: 'num' },
      { label: 'Size', cell: (a) => fmtSize(bytes(a)), cls: 'num' },
      { label: 'Retention', cell: (a) => fmtRetention(a.retention) },
      { label: 'Compliance', cell: (a) => yesNo(a.compliance) },
      { label: 'Addresses', cell: (a) => listText(a.addresses) },
      { label: 'Last received', cell: (a) => fmtTime(lastRx(a)) || 'never' },
    ], rows, { label: 'Archives' }) : h('p', 'No archives.'));
  focusHeading(ctx.main);
}

// The archive form, for create (a = null) and edit.
function archiveForm(a, onSubmit) {
  const fn = field('Name', { required: true, value: a ? a.name : '', readOnly: !!a, pattern: '[a-z0-9][a-z0-9._\\-]{0,63}', hint: a ? '' : 'Lower case letters, digits, . _ - ; cannot be changed later.' });
  const fa = field('Addresses', { kind: 'textarea', value: a ? listText(a.addresses).replace(/, /g, '\n') : '', hint: 'One per line: exact addresses, *@domain patterns, or * for anything.' });
  const fr = field('Retention', { value: a ? fmtRetention(a.retention) : 'permanent', hint: 'permanent, or a duration such as 7y, 90d, 6mo (counted from when Vellum received each message).' });
  const fd = field('Internal domains', { value: a ? listText(a.internal_domains) : '', hint: 'Comma-separated; decides direction:inbound/outbound/internal.' });
  const fq = field('Quiet alert', { value: a && a.quiet_alert ? String(a.quiet_alert) : '', hint: 'Warn (in the status strip and /healthz) when no mail arrives for this long, e.g. 1d. Empty: the server’s default.' });
  const fc = field('Compliance mode (retention can then only grow; the archive cannot be deleted; cannot be turned off)', { type: 'checkbox', checked: !!(a && a.compliance) });
  if (a && a.compliance) fc.input.disabled = true;
  const msg = h('div.msg');
  const submit = h('button', { type: 'submit', text: a ? 'Save changes' : 'Create archive' });
  const form = h('form.form', fn.row, fa.row, fr.row, fd.row, fq.row, fc.row, h('div.actions', submit, link(a ? `#/archives/${enc(a.name)}` : '#/archives', 'Cancel')), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (fc.input.checked && !(a && a.compliance) &&
        !window.confirm('Compliance mode cannot be turned off, and the archive can then never be deleted. Continue?')) return;
    const body = {
      addresses: splitList(fa.input.value),
      retention: fr.input.value.trim() || 'permanent',
      internal_domains: splitList(fd.input.value),
    };
    if (fq.input.value.trim()) body.quiet_alert = fq.input.value.trim();
    if (!a) body.name = fn.input.value.trim();
    if (fc.input.checked && !(a && a.compliance)) body.compliance = true;
    submit.disabled = true;
    fill(msg);
    try {
      await onSubmit(body);
    } catch (err) {
      submit.disabled = false;
      if (err.status === 401) return;
      fill(msg, notice('error', err.message));
    }
  });
  return form;
}

export async function create(ctx) {
  ctx.title('New archive');
  fill(ctx.main, h('h1', 'New archive'), archiveForm(null, async (body) => {
    await api('POST', '/api/v1/archives', body);
    go(`#/archives/${enc(body.name)}?saved=1`);
  }));
  focusHeading(ctx.main);
}

export async function detail(ctx) {
  const name = ctx.params[0];
  ctx.title(`Archive ${name}`);
  const base = `/api/v1/archives/${enc(name)}`;
  let a;
  try {
    a = await api('GET', base);
  } catch (e) {
    if (e.status === 401 || !ctx.live()) throw e;
    fill(ctx.main, link('#/archives', '← All archives'), h('h1', `Archive ${name}`), notice('error', e.message));
    return;
  }
  if (!ctx.live()) return;
  a = a.archive && typeof a.archive === 'object' ? a.archive : a;
  const del = h('button.danger', { type: 'button', text: 'Delete archive' });
  const delMsg = h('div.msg');
  del.addEventListener('click', async () => {
    if (!window.confirm(`Delete archive ${name} and all of its mail? This cannot be undone.`)) return;
    try {
      await api('DELETE', base);
      go('#/archives');
    } catch (e) {
      if (e.status === 401) return;
      fill(delMsg, notice('error', `Not deleted: ${e.message}`));
    }
  });
  const stats = statsOf(a);
  fill(ctx.main, link('#/archives', '← All archives'), h('h1', `Archive ${name}`),
    ctx.query.get('saved') ? notice('ok', 'Saved.') : null,
    dl([
      ['Messages', fmtCount(msgs(a))],
      ['Stored size', fmtSize(bytes(a))],
      ['Last received', fmtTime(lastRx(a)) || 'never'],
      ['Created', fmtTime(a.created)],
      ['Segments', pick(stats, 'segments')],
      ['Compliance mode', yesNo(a.compliance)],
    ]),
    h('h2', 'Settings'),
    archiveForm(a, async (body) => {
      await api('PATCH', base, body);
      go(`#/archives/${enc(name)}?saved=1`, true);
    }),
    a.compliance ? null : h('section', h('h2', 'Delete'), h('p', 'Only possible when none of its mail is held or still within retention.'), h('div.actions', del), delMsg));
  focusHeading(ctx.main);
}
