// jobs.js — reading export jobs as the API reports them (state, progress),
// and showing JSON documents (manifests) as tables, as text only.

import { h, table, dl } from './dom.js';
import { pick, listOf, fmtTime, fmtSize } from './format.js';

const DONE = /^(done|complete|completed|finished|ready|succeeded|success)$/i;
const FAILED = /^(failed|error|errored)$/i;
const CANCELLED = /^(cancel+ed|aborted)$/i;
const EXPIRED = /^(expired|deleted|gone)$/i;

export function jobState(j) {
  const s = String(pick(j, 'state', 'status') || 'queued');
  return {
    text: s,
    done: DONE.test(s),
    failed: FAILED.test(s),
    cancelled: CANCELLED.test(s),
    expired: EXPIRED.test(s),
    terminal: DONE.test(s) || FAILED.test(s) || CANCELLED.test(s) || EXPIRED.test(s),
  };
}

// {done, total} in messages (total may be undefined), or a fraction.
export function jobProgress(j) {
  const p = j.progress;
  if (p && typeof p === 'object') return { done: Number(pick(p, 'done', 'messages_done', 'messages') || 0), total: pick(p, 'total', 'messages_total') };
  const done = pick(j, 'done', 'messages_done', 'exported', 'processed');
  const total = pick(j, 'total', 'messages_total', 'matched');
  if (done !== undefined || total !== undefined) return { done: Number(done || 0), total: total === undefined ? undefined : Number(total) };
  if (typeof p === 'number') return { fraction: p > 1 ? p / 100 : p };
  return {};
}

export function progressBar(j, label) {
  const st = jobState(j);
  const pr = jobProgress(j);
  const bar = h('progress', { 'aria-label': label || 'Export progress' });
  let text;
  if (st.done) {
    bar.max = 1;
    bar.value = 1;
    text = `done${pr.total !== undefined ? `: ${pr.total} messages` : pr.done ? `: ${pr.done} messages` : ''}`;
  } else if (pr.fraction !== undefined) {
    bar.max = 1;
    bar.value = pr.fraction;
    text = `${st.text}: ${Math.round(pr.fraction * 100)} %`;
  } else if (pr.total) {
    bar.max = pr.total;
    bar.value = Math.min(pr.done || 0, pr.total);
    text = `${st.text}: ${pr.done || 0} of ${pr.total} messages`;
  } else {
    // indeterminate until the job knows how many messages there are
    text = `${st.text}${pr.done ? `: ${pr.done} messages` : ''}`;
  }
  if (st.terminal && !st.done) bar.hidden = true;
  return h('div.progress', bar, h('span.progress-text', { text }));
}

function scalar(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// A manifest (or any JSON document) as a summary list plus a table of its
// first array of objects.  Only text nodes.
export function jsonDoc(doc) {
  if (!doc || typeof doc !== 'object') return h('pre.json', scalar(doc));
  const pairs = [];
  let rows = null;
  let rowsKey = '';
  for (const [k, v] of Object.entries(doc)) {
    if (Array.isArray(v) && v.length && typeof v[0] === 'object' && !rows) {
      rows = v;
      rowsKey = k;
    } else {
      pairs.push([k, scalar(v)]);
    }
  }
  const out = [dl(pairs)];
  if (rows) {
    const keys = [];
    for (const r of rows.slice(0, 50)) for (const k of Object.keys(r || {})) if (!keys.includes(k)) keys.push(k);
    const shown = rows.slice(0, 1000);
    out.push(table(keys.map((k) => ({ label: k, cell: (r) => scalar(r && r[k]), cls: /sha|hash/i.test(k) ? 'wrap' : undefined })), shown,
      { label: rowsKey, caption: `${rowsKey} (${rows.length}${rows.length > shown.length ? `, first ${shown.length} shown` : ''})` }));
  }
  return h('div.jsondoc', out);
}

export { listOf, fmtTime, fmtSize };
