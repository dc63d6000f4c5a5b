// view-search.js — the search page: one query box (with suggestions as you
// type and a syntax help panel), quick filters, the results table with
// sorting, paging and totals, and the keyboard: j/k move, o/Enter open.
// Everything that defines the search lives in the URL, so a search can be
// bookmarked and shared.

import { h, fill, field, notice, newId } from './dom.js';
import { api, canHold, readableArchives, enc, isAdmin } from './api.js';
import { fmtTime, fmtSize, fmtCount, addrText, listOf } from './format.js';
import { FIELDS, OPERATORS, suggest, composeQuery } from './query.js';
import { shell, go, hashFor } from './shell.js';

const SORTS = [
  ['-date', 'Date, newest first'],
  ['date', 'Date, oldest first'],
  ['-received', 'Received, newest first'],
  ['received', 'Received, oldest first'],
  ['relevance', 'Relevance'],
];
const LIMITS = ['25', '50', '100', '200'];
const WHEN = [
  ['', 'Any time'],
  ['12h', 'Last 12 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['custom', 'Custom range…'],
];

// Archive names for the filter and for archive: suggestions (cached).
let archiveNames = null;
async function loadArchives() {
  if (archiveNames) return archiveNames;
  const granted = readableArchives();
  if (!granted.includes('*')) {
    archiveNames = granted;
    return archiveNames;
  }
  try {
    const data = await api('GET', '/api/v1/archives');
    archiveNames = listOf(data, 'archives').map((a) => a.name).filter((n) => n && !n.startsWith('_'));
  } catch (e) {
    if (e.status === 401) throw e;
    archiveNames = [];
  }
  return archiveNames;
}

let holdNames = null;
async function loadHolds() {
  if (holdNames || !canHold()) return holdNames || [];
  try {
    holdNames = listOf(await api('GET', '/api/v1/holds'), 'holds').map((x) => x.name).filter(Boolean);
  } catch (e) {
    holdNames = [];
  }
  return holdNames;
}

// The search as the URL states it.
function readParams(query) {
  const p = {
    q: query.get('q') || '',
    archive: query.get('archive') || '',
    when: query.get('when') || '',
    dfield: query.get('dfield') || 'received',
    dfrom: query.get('dfrom') || '',
    dto: query.get('dto') || '',
    att: query.get('att') === '1',
    sort: query.get('sort') || '-date',
    offset: Math.max(0, parseInt(query.get('offset') || '0', 10) || 0),
    limit: LIMITS.includes(query.get('limit')) ? query.get('limit') : '50',
  };
  if (!SORTS.some(([v]) => v === p.sort)) p.sort = '-date';
  return p;
}

function hashOf(p) {
  return hashFor('/search', {
    q: p.q, archive: p.archive, when: p.when, dfield: p.when && p.dfield !== 'received' ? p.dfield : '',
    dfrom: p.when === 'custom' ? p.dfrom : '', dto: p.when === 'custom' ? p.dto : '',
    att: p.att ? '1' : '', sort: p.sort !== '-date' ? p.sort : '', offset: p.offset || '',
    limit: p.limit !== '50' ? p.limit : '',
  });
}

function helpPanel() {
  const rows = (list) => list.map(([name, what, ex]) =>
    h('tr', h('th', { scope: 'row' }, h('code', name.includes(' ') || /[*(".]/.test(name) ? name : `${name}:`)),
      h('td', what), h('td', h('a', { href: hashFor('/search', { q: ex }) }, h('code', ex)))));
  return h('section#search-help.help', { 'aria-labelledby': 'search-help-title', hidden: true },
    h('h2#search-help-title', 'Query syntax'),
    h('p', 'Type words to find them anywhere; combine them with fields and operators. Times are UTC. ',
      'While typing, suggestions appear: use ↑/↓ and Enter or Tab to take one, Esc to close.'),
    h('div.help-cols',
      h('div.table-wrap', h('table.grid.compact', h('caption', 'Operators'),
        h('thead', h('tr', h('th', { scope: 'col' }, 'Syntax'), h('th', { scope: 'col' }, 'Meaning'), h('th', { scope: 'col' }, 'Example'))),
        h('tbody', rows(OPERATORS)))),
      h('div.table-wrap', h('table.grid.compact', h('caption', 'Fields'),
        h('thead', h('tr', h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Meaning'), h('th', { scope: 'col' }, 'Example'))),
        h('tbody', rows(FIELDS))))),
    h('p', 'Keyboard: ', h('kbd', '/'), ' search box, ', h('kbd', 'j'), ' / ', h('kbd', 'k'), ' next / previous result, ',
      h('kbd', 'o'), ' or ', h('kbd', 'Enter'), ' open, ', h('kbd', '?'), ' this help.'));
}

// The query box as an ARIA 1.2 combobox with a listbox of suggestions.
function queryBox(value, extra) {
  const listId = newId('sugg');
  const input = h('input#q', {
    type: 'search', name: 'q', value, autocomplete: 'off', spellcheck: 'false',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId,
    'aria-describedby': 'q-hint', placeholder: 'from:alice@example.com subject:contract received:30d',
  });
  const list = h('ul.suggest', { id: listId, role: 'listbox', 'aria-label': 'Suggestions', hidden: true });
  let items = [];
  let active = -1;

  const close = () => {
    items = [];
    active = -1;
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };
  const paint = () => {
    list.replaceChildren();
    items.forEach((s, i) => {
      const li = h('li', { id: `${listId}-${i}`, role: 'option', 'aria-selected': i === active ? 'true' : 'false' },
        h('span.s-label', s.label), s.hint ? h('span.s-hint', s.hint) : null);
      li.addEventListener('mousedown', (e) => {
        e.preventDefault();
        accept(i);
      });
      list.appendChild(li);
    });
    list.hidden = !items.length;
    input.setAttribute('aria-expanded', items.length ? 'true' : 'false');
    if (active >= 0) input.setAttribute('aria-activedescendant', `${listId}-${active}`);
    else input.removeAttribute('aria-activedescendant');
  };
  const update = () => {
    const caret = input.selectionStart ?? input.value.length;
    items = suggest(input.value, caret, extra);
    active = -1;
    paint();
  };
  const accept = (i) => {
    const s = items[i];
    if (!s) return;
    const caret = input.selectionStart ?? input.value.length;
    let start = caret;
    while (start > 0 && !/[\s(]/.test(input.value[start - 1])) start--;
    let end = caret;
    while (end < input.value.length && !/[\s)]/.test(input.value[end])) end++;
    input.value = input.value.slice(0, start) + s.insert + input.value.slice(end);
    const pos = start + s.insert.length;
    input.setSelectionRange(pos, pos);
    input.focus();
    if (s.more) update();
    else close();
  };
  input.addEventListener('input', update);
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    if (!items.length) {
      if (e.key === 'ArrowDown' && e.altKey) update();
      return;
    }
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      active = (active + 1) % items.length;
      paint();
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      active = active <= 0 ? items.length - 1 : active - 1;
      paint();
    } else if ((e.key === 'Enter' || e.key === 'Tab') && active >= 0) {
      e.preventDefault();
      accept(active);
    } else if (e.key === 'Tab' && items.length === 1) {
      e.preventDefault();
      accept(0);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });
  return { input, list, close };
}

function markers(r) {
  const out = [];
  if (r.attachment_count > 0) out.push(h('span.badge.att', `${r.attachment_count} attachment${r.attachment_count === 1 ? '' : 's'}`));
  if (r.journal) out.push(h('span.badge.jr', { title: 'Delivered as a journal report' }, 'journal'));
  if (r.quarantined) out.push(h('span.badge.warn', { title: 'The indexer gave up on this message' }, 'quarantined'));
  if (r.truncated) out.push(h('span.badge.warn', { title: 'Something was cut at a limit; see the message' }, 'truncated'));
  return out;
}

export async function render(ctx) {
  const p = readParams(ctx.query);
  ctx.title(p.q ? `Search: ${p.q}` : 'Search');
  const hash = hashOf(p);
  const extra = { archive: [], hold: [] };

  // ---- the form ----
  const box = queryBox(p.q, extra);
  const helpBtn = h('button.secondary', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'search-help', text: 'Syntax help' });
  const help = helpPanel();
  const toggleHelp = () => {
    help.hidden = !help.hidden;
    helpBtn.setAttribute('aria-expanded', String(!help.hidden));
  };
  helpBtn.addEventListener('click', toggleHelp);

  const fArchive = field('Archive', { kind: 'select', options: [['', 'All my archives']], value: '' });
  const fWhen = field('Date', { kind: 'select', options: WHEN, value: p.when });
  const fField = field('By', { kind: 'select', options: [['received', 'received by Vellum'], ['date', 'sent (Date header)']], value: p.dfield });
  const fFrom = field('From', { type: 'date', value: p.dfrom });
  const fTo = field('To', { type: 'date', value: p.dto });
  const fAtt = field('Has attachment', { type: 'checkbox', checked: p.att });
  const fSort = field('Sort', { kind: 'select', options: SORTS, value: p.sort });
  const fLimit = field('Per page', { kind: 'select', options: LIMITS.map((l) => [l, l]), value: p.limit });
  const custom = h('span.custom', fFrom.row, fTo.row);
  custom.hidden = p.when !== 'custom';
  fField.row.hidden = !p.when;
  fWhen.input.addEventListener('change', () => {
    custom.hidden = fWhen.input.value !== 'custom';
    fField.row.hidden = !fWhen.input.value;
  });

  const form = h('form.searchform', { role: 'search', 'aria-label': 'Search mail' },
    h('div.qrow',
      h('label.visually-hidden', { for: 'q', text: 'Search query' }),
      h('div.qbox', box.input, box.list),
      h('button', { type: 'submit', text: 'Search' }), helpBtn),
    h('p#q-hint.visually-hidden', 'Type a query; field suggestions appear as you type.'),
    h('fieldset.filters', h('legend', 'Quick filters'),
      fArchive.row, fWhen.row, fField.row, custom, fAtt.row, fSort.row, fLimit.row));

  const readForm = (offset = 0) => ({
    q: box.input.value.trim(), archive: fArchive.input.value, when: fWhen.input.value,
    dfield: fField.input.value, dfrom: fFrom.input.value, dto: fTo.input.value, att: fAtt.input.checked,
    sort: fSort.input.value, offset, limit: fLimit.input.value,
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    box.close();
    shell.focusResults = true;
    if (shell.lastSearch) shell.lastSearch.at = 0; // a new search, not the cached page
    go(hashOf(readForm(0)));
  });
  // Filters and sorting apply at once.
  for (const f of [fArchive, fWhen, fField, fFrom, fTo, fAtt, fSort, fLimit]) {
    f.input.addEventListener('change', () => {
      if (f === fWhen && fWhen.input.value === 'custom' && !fFrom.input.value && !fTo.input.value) return;
      go(hashOf(readForm(0)));
    });
  }

  const status = h('p.status', { role: 'status', 'aria-live': 'polite' });
  const actions = h('div.result-actions');
  const results = h('div.results');
  const pager = h('nav.pager', { 'aria-label': 'Result pages', hidden: true });
  fill(ctx.main, h('h1.visually-hidden', 'Search'), form, help, status, actions, results, pager);

  // Archive names for the filter and suggestions (does not hold up the search).
  loadArchives().then((names) => {
    if (!ctx.live()) return;
    extra.archive = names;
    for (const n of names) fArchive.input.appendChild(h('option', { value: n, text: n }));
    if (p.archive && !names.includes(p.archive)) fArchive.input.appendChild(h('option', { value: p.archive, text: p.archive }));
    fArchive.input.value = p.archive;
  }).catch(() => {});
  loadHolds().then((names) => {
    extra.hold = names;
  });

  // ---- keys: j/k/o/Enter and ? ----
  const state = { rows: [], selected: -1 };
  const select = (i, focus = true) => {
    if (!state.rows.length) return;
    state.selected = Math.max(0, Math.min(state.rows.length - 1, i));
    state.rows.forEach((tr, k) => {
      tr.classList.toggle('selected', k === state.selected);
      tr.setAttribute('aria-selected', k === state.selected ? 'true' : 'false');
      tr.tabIndex = k === state.selected ? 0 : -1;
    });
    if (shell.lastSearch) shell.lastSearch.selected = state.selected;
    if (focus) state.rows[state.selected].focus();
  };
  const open = (i) => {
    const tr = state.rows[i];
    if (tr) go(`#/message/${enc(tr.dataset.id)}`);
  };
  const onKey = (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest('input, textarea, select, button, [contenteditable]')) return;
    if (e.key === '?') {
      e.preventDefault();
      toggleHelp();
      if (!help.hidden) help.querySelector('h2').setAttribute('tabindex', '-1');
    } else if (e.key === 'j' || e.key === 'ArrowDown' && e.target.closest('tr')) {
      e.preventDefault();
      select(state.selected + 1);
    } else if (e.key === 'k' || e.key === 'ArrowUp' && e.target.closest('tr')) {
      e.preventDefault();
      select(state.selected - 1);
    } else if ((e.key === 'o' || e.key === 'Enter') && state.selected >= 0) {
      if (e.key === 'Enter' && e.target.closest('a')) return; // the link does it
      e.preventDefault();
      open(state.selected);
    }
  };
  document.addEventListener('keydown', onKey);
  ctx.onLeave(() => document.removeEventListener('keydown', onKey));

  // ---- the search ----
  const apiQ = composeQuery(p.q, p);
  const cached = shell.lastSearch && shell.lastSearch.hash === hash && Date.now() - shell.lastSearch.at < 10 * 60 * 1000
    ? shell.lastSearch : null;
  let res;
  if (cached) {
    res = cached.data;
  } else {
    status.textContent = 'Searching…';
    const params = new URLSearchParams({ q: apiQ, offset: String(p.offset), limit: p.limit, sort: p.sort });
    if (p.archive) params.set('archive', p.archive);
    try {
      res = await api('GET', `/api/v1/search?${params}`);
    } catch (e) {
      if (e.status === 401 || !ctx.live()) throw e;
      fill(status);
      fill(results, notice('error', e.status === 400 ? `The query has a problem: ${e.message}` : `Search failed: ${e.message}`));
      if (e.status === 400) box.input.focus();
      return;
    }
    if (!ctx.live()) return;
  }
  const rows = res.results || [];
  const total = typeof res.total === 'number' ? res.total : rows.length;
  shell.lastSearch = { hash, data: res, ids: rows.map((r) => r.id), at: cached ? cached.at : Date.now(),
                       selected: cached ? cached.selected : 0, offset: p.offset };

  const first = rows.length ? p.offset + 1 : 0;
  const last = p.offset + rows.length;
  status.textContent = total === 0
    ? 'No messages match.'
    : `Messages ${fmtCount(first)}–${fmtCount(last)} of ${res.total_exact === false ? 'about ' : ''}${fmtCount(total)}`;

  // Export and hold act on the whole search, not just this page.
  const forward = { q: apiQ || '*', archive: p.archive };
  fill(actions,
    total > 0 ? h('a.button.secondary', { href: hashFor('/exports/new', forward), text: 'Export these results…' }) : null,
    total > 0 && canHold() ? h('a.button.secondary', { href: hashFor('/holds/new', forward), text: 'Place a legal hold…' }) : null);

  if (!rows.length) {
    fill(results);
    pager.hidden = true;
    if (!p.q && !isAdmin()) box.input.focus();
    return;
  }

  // Sortable column headers for the two time columns.
  const sortHead = (label, key, cls) => {
    const cur = p.sort === `-${key}` ? 'descending' : p.sort === key ? 'ascending' : null;
    const next = cur === 'descending' ? key : `-${key}`;
    const th = h('th', { scope: 'col', class: cls, 'aria-sort': cur || undefined },
      h('a.sort', { href: hashOf({ ...p, sort: next, offset: 0 }), title: `Sort by ${label.toLowerCase()}, ${next.startsWith('-') ? 'newest' : 'oldest'} first` },
        label, cur ? (cur === 'descending' ? ' ▼' : ' ▲') : ''));
    return th;
  };
  const tbody = h('tbody');
  state.rows = rows.map((r, i) => {
    const href = `#/message/${enc(r.id)}`;
    const tr = h('tr', { tabindex: '-1', dataset: { id: r.id }, 'aria-selected': 'false' },
      h('td.time', fmtTime(r.received)),
      h('td.time.col-date', fmtTime(r.date)),
      h('td.addr', addrText(r.from)),
      h('td.addr.col-to', addrText(r.to)),
      h('td.subj', h('a', { href, text: r.subject || '(no subject)' }),
        r.snippet ? h('span.snippet', r.snippet) : null),
      h('td.num.col-size', fmtSize(r.size)),
      h('td.flags', markers(r)));
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      select(i, false);
      open(i);
    });
    tr.addEventListener('focus', () => {
      if (state.selected !== i) select(i, false);
    });
    return tr;
  });
  tbody.append(...state.rows);
  fill(results, h('div.table-wrap', h('table.grid.results', { 'aria-label': 'Search results', 'aria-describedby': 'kbd-hint' },
    h('thead', h('tr',
      sortHead('Received', 'received'), sortHead('Date', 'date', 'col-date'),
      h('th', { scope: 'col' }, 'From'), h('th.col-to', { scope: 'col' }, 'To'), h('th', { scope: 'col' }, 'Subject'),
      h('th.num.col-size', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, h('span.visually-hidden', 'Markers')))),
    tbody)),
  h('p#kbd-hint.hint', 'Keys: j / k next and previous, o or Enter to open, / to search, ? for help.'));
  select(shell.lastSearch.selected || 0, false);
  if (shell.focusResults) {
    shell.focusResults = false;
    state.rows[state.selected].focus();
  }

  // ---- paging ----
  const lim = parseInt(p.limit, 10);
  const pages = Math.max(1, Math.ceil(total / lim));
  const page = Math.floor(p.offset / lim) + 1;
  const pageLink = (label, off, disabled) => (disabled
    ? h('span.button.secondary.disabled', { 'aria-disabled': 'true', text: label })
    : h('a.button.secondary', { href: hashOf({ ...p, offset: off }), text: label }));
  fill(pager,
    pageLink('First', 0, p.offset === 0),
    pageLink('Previous', Math.max(0, p.offset - lim), p.offset === 0),
    h('span.page', `Page ${fmtCount(page)} of ${res.total_exact === false ? 'about ' : ''}${fmtCount(pages)}`),
    pageLink('Next', p.offset + lim, last >= total),
    res.total_exact === false ? null : pageLink('Last', (pages - 1) * lim, last >= total));
  pager.hidden = total <= lim && p.offset === 0;
}
