// view-exports.js — exports: start one from the current search (format
// mbox or eml, as received or the originals inside journal reports), follow
// its progress, download it, read its manifest, cancel it; the list of your
// exports with their expiry.

import { h, fill, field, notice, table, dl, link } from './dom.js';
import { api, enc } from './api.js';
import { fmtTime, fmtSize, listOf, pick } from './format.js';
import { go, focusHeading } from './shell.js';
import { jobState, progressBar, jsonDoc } from './jobs.js';
import { zipRead } from './zip.js';

// Largest export read into the page to show its manifest (the browser holds
// it in memory); bigger ones are only downloaded.
const MANIFEST_ZIP_MAX = 512 * 1024 * 1024;
const MANIFEST_COLS = ['n', 'id', 'archive', 'received', 'from', 'subject', 'size', 'sha256', 'file', 'inner'];

const POLL_MS = 1000;
const archivesText = (j) => {
  const a = pick(j, 'archives_searched', 'archive', 'archives');
  return a === '*' || a === undefined ? 'all you may read' : [].concat(a).join(', ');
};
const idOf = (x) => String(pick(x, 'id', 'export_id', 'name') ?? '');
const dlHref = (id) => `/api/v1/exports/${enc(id)}/download`;
const cellText = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function messagesTable(msgs) {
  const keys = MANIFEST_COLS.filter((k) => msgs.some((m) => m && m[k] !== undefined));
  const shown = msgs.slice(0, 1000);
  return table(keys.map((k) => ({ label: k, cell: (m) => cellText(m && m[k]), cls: k === 'sha256' ? 'wrap' : undefined })), shown,
    { label: 'Manifest', caption: `Messages (${msgs.length}${msgs.length > shown.length ? `, first ${shown.length} shown` : ''})` });
}

// manifest.json: {format, export: {...}, messages: [...], files, totals}
// (written one message per line); JSON Lines is read too.
function manifestView(text) {
  let doc = null;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    doc = null;
  }
  if (!doc) {
    const lines = text.split('\n').filter((l) => l.trim()).map((l) => {
      try {
        return JSON.parse(l);
      } catch (e) {
        return { unreadable: l.slice(0, 200) };
      }
    });
    doc = { messages: lines.filter((l) => l && l.id !== undefined), other: lines.filter((l) => !l || l.id === undefined) };
  }
  const msgs = Array.isArray(doc.messages) ? doc.messages : [];
  const about = { ...(doc.export && typeof doc.export === 'object' ? doc.export : {}) };
  for (const k of ['format', 'format_version', 'archives']) if (doc[k] !== undefined) about[k] = doc[k];
  const totals = doc.totals && typeof doc.totals === 'object' ? doc.totals : {};
  return h('div.jsondoc',
    dl([...Object.entries(about).map(([k, v]) => [k, cellText(v)]), ...Object.entries(totals).map(([k, v]) => [`total ${k}`, cellText(v)])]),
    messagesTable(msgs),
    doc.files ? h('details.section', h('summary', 'Other files and their SHA-256'), jsonDoc(doc.files)) : null);
}

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
      { label: 'By', cell: (j) => pick(j, 'creator', 'created_by', 'user', 'owner') || '' },
      { label: 'Query', cell: (j) => h('code', String(pick(j, 'q', 'query') ?? '')) },
      { label: 'Archives', cell: archivesText },
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

  // The manifest is manifest.json inside the zip: read from a download
  // into this page (audited as a download, which it is), shown as a table,
  // and offered for saving from the same bytes.
  let blobUrl = null;
  ctx.onLeave(() => blobUrl && URL.revokeObjectURL(blobUrl));
  const showManifest = async (j, btn) => {
    if (manifestLoaded) return;
    if (j.manifest && typeof j.manifest === 'object') {
      manifestLoaded = true;
      fill(manifest, h('h2#man-h', 'Manifest'), jsonDoc(j.manifest));
      manifest.hidden = false;
      return;
    }
    btn.disabled = true;
    fill(manifest, h('h2#man-h', 'Manifest'), h('p.status', { role: 'status', text: 'Reading the export…' }));
    manifest.hidden = false;
    try {
      const r = await fetch(`${base}/download`, { credentials: 'same-origin', cache: 'no-store' });
      if (!r.ok) throw new Error(`the download answered HTTP ${r.status}`);
      const buf = await r.arrayBuffer();
      const bytes = await zipRead(buf, 'manifest.json');
      if (!ctx.live()) return;
      if (!bytes) throw new Error('the export has no manifest.json');
      blobUrl = URL.createObjectURL(new Blob([buf], { type: 'application/zip' }));
      manifestLoaded = true;
      fill(manifest, h('h2#man-h', 'Manifest'),
        h('p.hint', 'From manifest.json in the export (signed: manifest.json.sig; check the whole file with “vellum verify-export”).'),
        h('p', h('a', { href: blobUrl, download: `vellum-export-${id}.zip`, text: 'Save this copy of the export' })),
        manifestView(new TextDecoder().decode(bytes)));
    } catch (e) {
      btn.disabled = false;
      fill(manifest, h('h2#man-h', 'Manifest'), notice('error', `The manifest cannot be shown: ${e.message}`));
    }
  };

  const manifestBtn = (j) => {
    const size = pick(j, 'size', 'bytes');
    if (typeof size === 'number' && size > MANIFEST_ZIP_MAX) return h('span.hint', 'Too large to open here: manifest.json is inside the download.');
    const b = h('button.secondary', { type: 'button', text: 'Show the manifest' });
    b.addEventListener('click', () => showManifest(j, b));
    return b;
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
      st.failed ? notice('error', `The export failed: ${pick(j, 'reason', 'error', 'message') || 'no reason given'}`) : null,
      st.cancelled ? notice('info', 'This export was cancelled.') : null,
      st.expired ? notice('info', 'This export has expired and was deleted.') : null,
      dl([
        ['Query', String(pick(j, 'q', 'query') ?? '')],
        ['Archives searched', archivesText(j)],
        ['Format', j.format],
        ['Content', j.inner ? 'inner originals' : 'as received'],
        ['Created', fmtTime(pick(j, 'created', 'created_at'))],
        ['Created by', pick(j, 'creator', 'created_by', 'user', 'owner')],
        ['As of', fmtTime(j.as_of)],
        ['Finished', fmtTime(j.finished)],
        ['Messages', pick(j, 'messages', 'count') ?? pick(j.progress || {}, 'messages_total')],
        ['Size', fmtSize(pick(j, 'size', 'bytes'))],
        ['SHA-256', pick(j, 'sha256')],
        ['Expires', fmtTime(pick(j, 'expires', 'expires_at'))],
      ]),
      h('div.actions',
        st.done ? h('a.button', { href: `${base}/download`, download: '', text: 'Download export' }) : null,
        st.done && !manifestLoaded ? manifestBtn(j) : null,
        st.terminal ? null : cancel),
      st.done ? h('p.hint', 'Showing the manifest reads the whole export into this page; like a download, it is recorded in the audit trail.') : null);
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
