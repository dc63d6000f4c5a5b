// status.js — the status strip under the header: health (including journal
// feeds that went silent), indexing lag, quarantined messages.
//
// Polls GET /healthz (public) and GET /api/v1/quarantine (when the user may
// see it) every 30 seconds while someone is signed in.

import { h, fill } from './dom.js';
import { api, canRead, isAdmin } from './api.js';
import { fmtDuration, fmtCount, listOf, pick } from './format.js';

const POLL_MS = 30000;
let timer = null;
let running = false;

// Lag as seconds and/or messages, wherever /healthz puts it.
function lagOf(hz) {
  const ix = hz.index || hz.indexer || hz.indexing || {};
  const secs = pick(hz, 'index_lag_seconds', 'lag_seconds') ?? pick(ix, 'lag_seconds', 'lag_s', 'seconds');
  const msgs = pick(hz, 'index_lag_messages', 'lag_messages') ?? pick(ix, 'lag_messages', 'pending', 'messages_behind');
  const lag = typeof hz.lag === 'number' ? hz.lag : typeof ix.lag === 'number' ? ix.lag : undefined;
  return { secs: secs ?? lag, msgs };
}

// Journal feeds (archives or listeners) that have been quiet too long.
function silentFeeds(hz) {
  const out = [];
  for (const key of ['feeds', 'archives', 'silent_feeds', 'journal_feeds']) {
    const v = hz[key];
    if (!v) continue;
    if (Array.isArray(v)) {
      for (const f of v) {
        if (typeof f === 'string') out.push({ name: f });
        else if (f && (f.silent || key === 'silent_feeds' || f.state === 'silent')) {
          out.push({ name: pick(f, 'archive', 'name', 'listener') || '?', since: pick(f, 'last_received', 'last_message', 'since'), quiet: pick(f, 'quiet_alert', 'quiet_for') });
        }
      }
    } else if (typeof v === 'object') {
      for (const [name, f] of Object.entries(v)) if (f && (f.silent || f.state === 'silent')) out.push({ name, since: pick(f, 'last_received', 'since') });
    }
  }
  return out;
}

async function poll(el) {
  let hz = null;
  let hzErr = null;
  try {
    const r = await fetch('/healthz', { cache: 'no-store', headers: { Accept: 'application/json' } });
    hz = await r.json().catch(() => null);
    if (!r.ok && !hz) hzErr = `HTTP ${r.status}`;
  } catch (e) {
    hzErr = 'the server cannot be reached';
  }
  let quarantined;
  if (canRead() || isAdmin()) {
    try {
      const q = await api('GET', '/api/v1/quarantine?limit=1');
      quarantined = pick(q, 'total', 'count') ?? listOf(q, 'messages', 'quarantine', 'results').length;
    } catch (e) {
      if (e.status === 401) return;
      quarantined = hz ? pick(hz, 'quarantined', 'quarantine_count') : undefined;
    }
  }
  if (!running) return;
  const items = [];
  const status = hzErr ? `unreachable (${hzErr})` : String((hz && hz.status) || 'unknown');
  const bad = !!hzErr || !/^(ok|healthy)$/i.test(status);
  items.push(h('span.item', { class: bad ? 'warn' : 'good' }, h('span.k', 'Health: '), status));
  if (hz) {
    const lag = lagOf(hz);
    if (lag.secs !== undefined || lag.msgs !== undefined) {
      const parts = [];
      if (lag.secs !== undefined) parts.push(fmtDuration(Number(lag.secs)));
      if (lag.msgs !== undefined) parts.push(`${fmtCount(Number(lag.msgs))} messages`);
      items.push(h('span.item', { class: Number(lag.secs) > 300 ? 'warn' : '' }, h('span.k', 'Indexing lag: '), parts.join(', ')));
    }
    for (const f of silentFeeds(hz)) {
      items.push(h('span.item.warn', h('span.k', 'Silent journal feed: '), f.name, f.since ? ` (last mail ${f.since})` : ''));
    }
  }
  if (quarantined !== undefined) {
    items.push(h('span.item', { class: quarantined > 0 ? 'warn' : '' }, h('span.k', 'Quarantined: '),
                 h('a', { href: '#/quarantine', text: fmtCount(Number(quarantined)) })));
  }
  fill(el, ...items);
  el.hidden = false;
}

export function startStatus(el) {
  if (running) return;
  running = true;
  el.setAttribute('aria-label', 'Server status');
  el.setAttribute('role', 'region');
  const tick = async () => {
    await poll(el);
    if (running) timer = setTimeout(tick, POLL_MS);
  };
  tick();
}

export function stopStatus(el) {
  running = false;
  clearTimeout(timer);
  timer = null;
  if (el) {
    el.hidden = true;
    el.replaceChildren();
  }
}

// Re-polls now (after a retry from the quarantine page, for instance).
export function refreshStatus() {
  const el = document.getElementById('statusbar');
  if (running && el) poll(el);
}
