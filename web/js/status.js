// status.js — the status strip under the header: health (including journal
// feeds that went silent), indexing lag, quarantined messages.
//
// Polls GET /healthz (public) and GET /api/v1/quarantine (when the user may
// see it) every 30 seconds while someone is signed in.

import { h, fill } from './dom.js';
import { api, canRead, isAdmin } from './api.js';
import { fmtDuration, fmtCount, fmtTime, listOf, pick } from './format.js';

const POLL_MS = 30000;
let timer = null;
let running = false;

// Indexing lag: /healthz gives indexer.lag (messages stored but not yet
// searchable); seconds when a server reports them.
function lagOf(hz) {
  const ix = hz.indexer || hz.index || {};
  const msgs = pick(ix, 'lag', 'behind_records', 'lag_messages', 'pending') ?? pick(hz, 'index_lag', 'index_lag_messages');
  const secs = pick(ix, 'behind_seconds', 'lag_seconds') ?? pick(hz, 'index_lag_seconds');
  return { secs, msgs, alive: ix.alive };
}

// Archives whose journal feed has been quiet for longer than their
// quiet_alert (archives[].quiet).
function silentFeeds(hz) {
  return listOf(hz.archives).filter((a) => a && (a.quiet || a.silent))
    .map((a) => ({ name: a.name, since: a.last_received, quiet: a.quiet_alert }));
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
      quarantined = hz ? pick(hz, 'quarantined', 'quarantine_count') ?? pick(hz.indexer || {}, 'quarantined') : undefined;
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
      if (lag.secs !== undefined && Number(lag.secs) > 0) parts.push(fmtDuration(Number(lag.secs)));
      if (lag.msgs !== undefined) parts.push(`${fmtCount(Number(lag.msgs))} messages`);
      items.push(h('span.item', { class: Number(lag.secs) > 300 || Number(lag.msgs) > 1000 ? 'warn' : '' }, h('span.k', 'Indexing lag: '), parts.join(', ') || 'none'));
    }
    for (const f of silentFeeds(hz)) {
      items.push(h('span.item.warn', h('span.k', 'Silent journal feed: '), f.name,
        ` (${f.since ? `last mail ${fmtTime(f.since)}` : 'no mail yet'}${f.quiet ? `; alert after ${f.quiet}` : ''})`));
    }
    if (lagOf(hz).alive === false) items.push(h('span.item.warn', 'Indexer not running: new mail is stored but not searchable'));
    const problems = listOf(hz.problems).map(String);
    if (bad && problems.length) items[0].setAttribute('title', problems.join('\n'));
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
