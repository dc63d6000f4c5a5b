// view-exports.js — exports: start one from the current search (format
// mbox or eml, as received or the originals inside journal reports), follow
// its progress, download it, read its manifest, cancel it; the list of your
// exports with their expiry.

import { h, fill, field, notice, table, dl, link } from './dom.js';
import { api, enc } from './api.js';
import { fmtTime, fmtSize, listOf, pick } from './format.js';
import { go, focusHeading } from './shell.js';
import { jobState, progressBar, jsonDoc } from './jobs.js';

const POLL_MS = 1000;
const idOf = (x) => String(pick(x, 'id', 'export_id', 'name') ?? '');
const dlHref = (id) => `/api/v1/exports/${enc(id)}/download`;

export async function list(ctx) {
  ctx.title('Exports');
  fill(ctx.main, h('h1', 'Exports'), h('p.status', 'Loading…'));
  const data = await api('GET', '/api/v1/exports');
  if (!ctx.live()) return;
  const jobs = listOf(data, 'exports', 'jobs');
  fill(ctx.main, h('h1', 'Exports'),
    h('p', 'To export mail, search for it and choose “Export these results”. ',
      link('#/search', 'Go to search')),
    jobs.length ? table([
      { label: 'Export', cell: (j) => link(`#/exports/${enc(idOf(j))}`, idOf(j)) },
      { label: 'Created', cell: (j) => fmtTime(pick(j, 'created', 'created_at')) },
      { label: 'By', cell: (j) => pick(j, 'created_by', 'user', 'owner') || '' },
      { label: 'Query', cell: (j) => h('code', String(pick(j, 'q', 'query') ?? '')) },
      { label: 'Archive', cell: (j) => [].concat(pick(j, 'archive', 'archives') || 'all').join(', ') },
      { label: 'Format', cell: (j) => `${j.format || ''}${j.inner ? ', originals' : ''}` },
      { label: 'State', cell: (j) => progressBar(j, `Progress of export ${idOf(j)}`) },
      { label: 'Size', cell: (j) => fmtSize(pick(j, 'size', 'bytes')), cls: 'num' },
      { label: 'Expires', cell: (j) => fmtTime(pick(j, 'expires', 'expires_at')) },
      { label: 'Download', cell: (j) => (jobState(j).done ? h('a', { href: dlHref(idOf(j)), download: '', 'aria-label': `Download export ${idOf(j)}`, text: 'Download' }) : '') },
    ], jobs, { label: 'Exports' }) : h('p', 'You have no exports.'));
  focusHeading(ctx.main);
}

export async function create(ctx) {
  ctx.title('New export');
  const q = ctx.query.get('q') || '*';
  const archive = ctx.query.get('archive') || '';
  const fq = field('Query', { value: q, required: true, name: 'q' });
  const fa = field('Archive', { value: archive, name: 'archive', hint: 'Empty: every archive you may read.' });
  const fmtMbox = field('mbox (one file)', { type: 'radio', name: 'format', checked: true });
  fmtMbox.input.value = 'mbox';
  const fmtEml = field('eml (one file per message)', { type: 'radio', name: 'format' });
  fmtEml.input.value = 'eml';
  const asRecv = field('As received (byte-exact, verifiable by SHA-256)', { type: 'radio', name: 'inner', checked: true });
  asRecv.input.value = '0';
  const inner = field('Inner originals (the message inside each journal report)', { type: 'radio', name: 'inner' });
  inner.input.value = '1';
  const submit = h('button', { type: 'submit', text: 'Start export' });
  const msg = h('div.msg');
  const form = h('form.form', { 'aria-labelledby': 'exp-h' },
    fq.row, fa.row,
    h('fieldset', h('legend', 'Format'), fmtMbox.row, fmtEml.row),
    h('fieldset', h('legend', 'Content'), asRecv.row, inner.row),
    h('div.actions', submit, link('#/exports', 'Cancel')), msg);
  fill(ctx.main, h('h1#exp-h', 'New export'),
    h('p', 'The export is built in the background; you can leave this page and find it under Exports.'), form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(msg);
    const body = { q: fq.input.value.trim() || '*', format: fmtEml.input.checked ? 'eml' : 'mbox', inner: inner.input.checked };
    if (fa.input.value.trim()) body.archive = fa.input.value.trim();
    try {
      const r = await api('POST', '/api/v1/exports', body);
      go(`#/exports/${enc(idOf(r))}`);
    } catch (err) {
      submit.disabled = false;
      if (err.status === 401) return;
      fill(msg, notice('error', `The export could not be started: ${err.message}`));
    }
  });
  focusHeading(ctx.main);
}

export async function detail(ctx) {
  const id = ctx.params[0];
  ctx.title(`Export ${id}`);
  const base = `/api/v1/exports/${enc(id)}`;
  const head = h('h1', `Export ${id}`);
  const body = h('div');
  const manifest = h('section', { 'aria-labelledby': 'man-h', hidden: true });
  fill(ctx.main, link('#/exports', '← All exports'), head, body, manifest);
  focusHeading(ctx.main);
  let timer = null;
  let manifestLoaded = false;
  ctx.onLeave(() => clearTimeout(timer));

  const showManifest = async (j) => {
    if (manifestLoaded) return;
    manifestLoaded = true;
    let doc = j.manifest && typeof j.manifest === 'object' ? j.manifest : null;
    if (!doc) {
      try {
        doc = await api('GET', `${base}/manifest`);
      } catch (e) {
        if (e.status === 401) throw e;
        doc = null;
      }
    }
    if (!doc || !ctx.live()) return;
    fill(manifest, h('h2#man-h', 'Manifest'),
      h('p.hint', 'What the export contains, with the SHA-256 of every message; the same manifest, signed, is inside the download.'),
      jsonDoc(doc));
    manifest.hidden = false;
  };

  const paint = (j) => {
    const st = jobState(j);
    const cancel = h('button.secondary', { type: 'button', text: 'Cancel export' });
    cancel.addEventListener('click', async () => {
      cancel.disabled = true;
      try {
        await api('DELETE', base);
        refresh();
      } catch (e) {
        cancel.disabled = false;
        body.appendChild(notice('error', `Cannot cancel: ${e.message}`));
      }
    });
    fill(body,
      progressBar(j),
      st.failed ? notice('error', `The export failed: ${pick(j, 'error', 'message') || 'no reason given'}`) : null,
      st.cancelled ? notice('info', 'This export was cancelled.') : null,
      st.expired ? notice('info', 'This export has expired and was deleted.') : null,
      dl([
        ['Query', String(pick(j, 'q', 'query') ?? '')],
        ['Archive', [].concat(pick(j, 'archive', 'archives') || 'all').join(', ')],
        ['Format', j.format],
        ['Content', j.inner ? 'inner originals' : 'as received'],
        ['Created', fmtTime(pick(j, 'created', 'created_at'))],
        ['Created by', pick(j, 'created_by', 'user', 'owner')],
        ['Messages', pick(j, 'messages', 'count', 'total')],
        ['Size', fmtSize(pick(j, 'size', 'bytes'))],
        ['SHA-256', pick(j, 'sha256')],
        ['Expires', fmtTime(pick(j, 'expires', 'expires_at'))],
      ]),
      h('div.actions',
        st.done ? h('a.button', { href: `${base}/download`, download: '', text: 'Download export' }) : null,
        st.terminal ? null : cancel));
    if (st.done) showManifest(j).catch(() => {});
    return st.terminal;
  };

  const refresh = async () => {
    clearTimeout(timer);
    let j;
    try {
      j = await api('GET', base);
    } catch (e) {
      if (e.status === 401 || !ctx.live()) return;
      fill(body, notice('error', e.status === 404 ? `There is no export ${id} that you may see.` : e.message));
      return;
    }
    if (!ctx.live()) return;
    if (!paint(j)) timer = setTimeout(refresh, POLL_MS);
  };
  await refresh();
}
