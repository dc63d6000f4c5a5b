// view-message.js — one message: decoded headers, envelope and arrivals,
// journal recipients with their roles, authentication results, attachments,
// the body as text or HTML, the raw source and the .eml download.
//
// Safety: every value here comes from the message (that is, from whoever
// sent it) and goes into the page as text only (dom.js).  The HTML body is
// never put into this page: it is shown in an <iframe sandbox=""> (no
// allow-scripts, no allow-same-origin: the frame gets an opaque origin,
// runs no script, submits no form, navigates nothing) whose document comes
// from GET .../body?format=html, served with a CSP that forbids every
// remote load.  No srcdoc, no blob: or data: documents built here.

import { h, fill, dl, table, notice } from './dom.js';
import { api, fetchText, enc } from './api.js';
import { fmtTime, fmtSize, addrText, listOf, pick } from './format.js';
import { shell, go, focusHeading } from './shell.js';

const RAW_SHOW_MAX = 2 << 20; // raw source shown in the page (the download has it all)

const ROLE = { to: 'To', cc: 'Cc', bcc: 'Bcc', recipient: 'Recipient', expanded: 'Expanded', forwarded: 'Forwarded' };

function headerValue(m, name) {
  const hs = Array.isArray(m.headers) ? m.headers : [];
  const x = hs.find((hd) => String(hd.name).toLowerCase() === name);
  return x ? x.value : undefined;
}

function attachmentsOf(m) {
  if (Array.isArray(m.attachments)) {
    return m.attachments.map((a) => ({ part: pick(a, 'part', 'num'), filename: a.filename, content_type: a.content_type, size: a.size, sha256: a.sha256 }));
  }
  return listOf(m.parts).filter((p) => p.attachment).map((p) => ({ part: p.num, filename: p.filename, content_type: p.content_type, size: p.size, sha256: p.sha256 }));
}

// The detail says whether GET .../body?format=html has anything to show.
const hasHtml = (m) => !!(m.body && typeof m.body === 'object' && m.body.html);

function journalRecipients(j) {
  const rs = listOf(j, 'recipients');
  return rs.map((r) => {
    const roles = [ROLE[String(r.role).toLowerCase()] || r.role || ''];
    const exp = pick(r, 'expanded_from', 'expanded');
    const fwd = pick(r, 'forwarded_from', 'forwarded');
    if (exp) roles.push('Expanded');
    if (fwd) roles.push('Forwarded');
    return { address: pick(r, 'address', 'addr'), roles: roles.filter(Boolean).join(', '), exp, fwd };
  });
}

function arrivalBlock(a, i, n) {
  const tls = a.tls && typeof a.tls === 'object' ? `${a.tls.version || ''} ${a.tls.cipher || ''}`.trim() : a.tls ? String(a.tls) : 'no';
  const pos = a.position || {};
  return h('section.arrival', { 'aria-label': `Arrival ${i + 1} of ${n}` },
    n > 1 ? h('h3', `Arrival ${i + 1} of ${n}`) : null,
    dl([
      ['Received', fmtTime(a.received)],
      ['Listener', a.listener],
      ['Client', a.client_addr ? `${a.client_addr}${a.client_port ? `:${a.client_port}` : ''}` : ''],
      ['HELO', a.helo],
      ['TLS', tls],
      ['SMTP AUTH', a.auth_id],
      ['MAIL FROM', a.mail_from === '' ? '<>' : a.mail_from],
      ['Parameters', a.mail_params],
      ['RCPT TO', (a.rcpt || []).join(', ')],
      ['Flags', (a.flags || []).join(', ')],
      ['Stored at', pos.segment ? `segment ${pos.segment}, offset ${pos.offset}, record ${pos.record_seq}` : ''],
    ]));
}

function partTree(parts) {
  if (!parts.length) return null;
  const byParent = new Map();
  for (const p of parts) {
    const k = p.parent || 0;
    if (!byParent.has(k)) byParent.set(k, []);
    byParent.get(k).push(p);
  }
  const build = (parent, depth) => {
    const kids = byParent.get(parent);
    if (!kids || depth > 64) return null;
    return h('ul.tree', kids.map((p) => h('li',
      h('span.part', `${p.num}. ${p.content_type || 'unknown'}`,
        p.charset ? ` (${p.charset})` : '', p.filename ? ` “${p.filename}”` : '',
        p.size ? ` — ${fmtSize(p.size)}` : '', p.attachment ? ' — attachment' : ''),
      build(p.num, depth + 1))));
  };
  return build(0, 0);
}

export async function render(ctx) {
  const id = ctx.params[0];
  const base = `/api/v1/messages/${enc(id)}`;
  ctx.title('Message');
  const nav = shell.lastSearch;
  const idx = nav ? nav.ids.indexOf(id) : -1;
  const backHref = nav ? nav.hash : '#/search';
  const prevId = idx > 0 ? nav.ids[idx - 1] : null;
  const nextId = idx >= 0 && idx < nav.ids.length - 1 ? nav.ids[idx + 1] : null;
  const toolbar = h('nav.msgnav', { 'aria-label': 'Message navigation' },
    h('a', { href: backHref, text: '← Back to results' }),
    prevId ? h('a', { href: `#/message/${enc(prevId)}`, rel: 'prev', text: 'Previous (k)' }) : null,
    nextId ? h('a', { href: `#/message/${enc(nextId)}`, rel: 'next', text: 'Next (j)' }) : null);
  fill(ctx.main, toolbar, h('h1#msg-subject', { text: 'Loading…' }));

  const onKey = (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest('input, textarea, select, [contenteditable]')) return;
    if (e.key === 'j' && nextId) {
      if (nav) nav.selected = idx + 1;
      go(`#/message/${enc(nextId)}`);
    } else if (e.key === 'k' && prevId) {
      if (nav) nav.selected = idx - 1;
      go(`#/message/${enc(prevId)}`);
    } else if (e.key === 'u' || e.key === 'Escape') {
      go(backHref);
    }
  };
  document.addEventListener('keydown', onKey);
  ctx.onLeave(() => document.removeEventListener('keydown', onKey));

  let m;
  try {
    m = await api('GET', base);
  } catch (e) {
    if (e.status === 401 || !ctx.live()) throw e;
    fill(ctx.main, toolbar, h('h1', { text: e.status === 404 ? 'No such message' : 'Cannot show this message' }),
      notice('error', e.status === 404 ? `There is no message ${id} that you may read.` : e.message));
    focusHeading(ctx.main);
    return;
  }
  if (!ctx.live()) return;

  const subject = pick(m, 'subject') ?? headerValue(m, 'subject');
  ctx.title(subject || '(no subject)');
  const j = m.journal && typeof m.journal === 'object' ? m.journal : null;
  const atts = attachmentsOf(m);
  const warnings = listOf(m.warnings);
  const cuts = listOf(m.cuts);

  // ---- summary ----
  const summary = dl([
    ['From', addrText(m.from)],
    ['Sender', addrText(m.sender)],
    ['Reply-To', addrText(m.reply_to)],
    ['To', addrText(m.to)],
    ['Cc', addrText(m.cc)],
    ['Bcc', addrText(m.bcc)],
    ['Date', m.date ? fmtTime(m.date) : m.date === null ? '(no valid Date header)' : ''],
    ['Received', fmtTime(m.received)],
    ['Message-ID', m.message_id],
    ['Archive', m.archive],
    ['Id', m.id || id],
    ['Size', `${fmtSize(m.size)}${typeof m.size === 'number' ? ` (${m.size} bytes)` : ''}`],
    ['SHA-256', m.sha256],
    ['Journal report', j ? `${j.kind || 'yes'}${j.inner_sha256 ? `; original SHA-256 ${j.inner_sha256}` : ''}` : m.journal === true ? 'yes' : ''],
  ]);

  const dlLinks = h('p.downloads',
    h('a.button', { href: `${base}/raw`, download: `${id}.eml`, text: 'Download .eml' }),
    j && j.inner_part ? h('a.button.secondary', { href: `${base}/raw?inner=1`, download: `${id}-original.eml`, text: 'Download original (.eml)' }) : null);

  const warnBox = warnings.length || cuts.length
    ? h('div.notice.warn', { role: 'note' },
      h('strong', 'Warnings: '),
      [...warnings.map(String), ...cuts.map((c) => `cut: ${c.what}${c.count !== undefined ? ` (${c.count})` : ''}${c.bytes !== undefined ? ` (${c.bytes} bytes)` : ''}`)].join(', '))
    : null;

  // ---- body ----
  const bodyArea = h('div.body-area');
  const html = hasHtml(m);
  const btnText = h('button.tab', { type: 'button', 'aria-pressed': 'false', text: 'Plain text' });
  const btnHtml = h('button.tab', { type: 'button', 'aria-pressed': 'false', text: 'HTML (sandboxed)' });
  btnHtml.hidden = !html;
  const showText = async () => {
    btnText.setAttribute('aria-pressed', 'true');
    btnHtml.setAttribute('aria-pressed', 'false');
    fill(bodyArea, h('p.status', 'Loading…'));
    try {
      const { text, truncated } = await fetchText(`${base}/body?format=text`);
      if (!ctx.live()) return;
      fill(bodyArea, h('pre.body-text', { tabindex: '0', 'aria-label': 'Message body' }, text || '(empty body)'),
        truncated ? notice('info', 'Only the start of a very long body is shown; download the message for all of it.') : null);
    } catch (e) {
      if (e.status === 401) return;
      fill(bodyArea, notice('error', e.status === 404 && /no such resource/.test(e.message)
        ? 'This server does not serve message bodies yet; open “Raw source” below.'
        : `The body cannot be shown: ${e.message}`));
    }
  };
  const showHtml = () => {
    btnHtml.setAttribute('aria-pressed', 'true');
    btnText.setAttribute('aria-pressed', 'false');
    // sandbox="" : no scripts, no same-origin, no forms, no popups, no
    // top navigation.  The response's own CSP blocks every remote load.
    const frame = h('iframe.body-html', {
      sandbox: '', src: `${base}/body?format=html`, referrerpolicy: 'no-referrer',
      title: 'Message body as HTML (sandboxed: no scripts, no remote content)',
    });
    fill(bodyArea, frame, h('p.hint', 'Remote images and other remote content are never loaded.'));
  };
  btnText.addEventListener('click', showText);
  btnHtml.addEventListener('click', showHtml);

  // ---- attachments ----
  const attSection = atts.length ? h('section', { 'aria-labelledby': 'att-h' }, h('h2#att-h', `Attachments (${atts.length})`),
    table([
      { label: 'File name', cell: (a) => a.filename || '(no name)' },
      { label: 'Type', cell: (a) => a.content_type || '' },
      { label: 'Size', cell: (a) => fmtSize(a.size), cls: 'num' },
      { label: 'SHA-256', cell: (a) => (a.sha256 ? h('code.hash', a.sha256) : '') },
      { label: 'Download', cell: (a) => (a.part ? h('a', { href: `${base}/parts/${enc(a.part)}`, download: '', 'aria-label': `Download ${a.filename || `part ${a.part}`}`, text: 'Download' }) : '') },
    ], atts, { label: 'Attachments' })) : null;

  // ---- journal recipients ----
  let journalSection = null;
  if (j) {
    const rs = journalRecipients(j);
    journalSection = h('section', { 'aria-labelledby': 'jr-h' }, h('h2#jr-h', 'Journal report'),
      dl([['Sender', j.sender], ['On behalf of', j.on_behalf_of], ['Subject', j.subject], ['Message-ID', j.message_id],
          ['Original', j.inner_part ? `part ${j.inner_part}${j.inner_exact === false ? ' (re-serialised: not byte-exact)' : ''}${j.inner_size ? `, ${fmtSize(j.inner_size)}` : ''}` : '']]),
      h('h3', `Journal recipients (${rs.length}${j.recipients_dropped ? ` + ${j.recipients_dropped} not kept` : ''})`),
      rs.length ? table([
        { label: 'Recipient', cell: (r) => r.address || '' },
        { label: 'Role', cell: (r) => r.roles },
        { label: 'Expanded from', cell: (r) => r.exp || '' },
        { label: 'Forwarded from', cell: (r) => r.fwd || '' },
      ], rs, { label: 'Journal recipients' }) : h('p', 'None listed.'));
  }
  const copies = listOf(m.copy_recipients);
  const copySection = copies.length ? h('section', { 'aria-labelledby': 'cr-h' }, h('h2#cr-h', 'Routing copies'),
    table([{ label: 'Recipient', cell: (r) => r.address }, { label: 'Header', cell: (r) => r.header }], copies, { label: 'Routing copies' })) : null;

  // ---- authentication results ----
  let authSection = null;
  if (m.auth && typeof m.auth === 'object') {
    const res = listOf(m.auth.results);
    authSection = h('section', { 'aria-labelledby': 'auth-h' }, h('h2#auth-h', 'Authentication results'),
      dl([['Checked by', m.auth.authserv_id], ['DMARC', listOf(m.auth.dmarc).join(', ')], ['SPF', listOf(m.auth.spf).join(', ')], ['DKIM', listOf(m.auth.dkim).join(', ')]]),
      res.length ? table([
        { label: 'Method', cell: (r) => r.method }, { label: 'Result', cell: (r) => r.result },
        { label: 'Reason', cell: (r) => r.reason || '' }, { label: 'Properties', cell: (r) => r.props || '' },
      ], res, { label: 'Authentication results' }) : null);
  }

  // ---- envelope, parts, headers, raw ----
  const arrivals = listOf(m.arrivals);
  const envSection = h('section', { 'aria-labelledby': 'env-h' }, h('h2#env-h', `Envelope and arrivals (${arrivals.length})`),
    arrivals.map((a, i) => arrivalBlock(a, i, arrivals.length)),
    m.store && arrivals.length !== 1 ? dl([['First stored', `segment ${m.store.segment}, offset ${m.store.offset}, record ${m.store.record_seq}`]]) : null);
  const parts = listOf(m.parts);
  const partsSection = parts.length ? h('details.section', h('summary', h('h2.inline', `MIME structure (${parts.length} part${parts.length === 1 ? '' : 's'})`)), partTree(parts),
    m.parts_dropped ? h('p', `${m.parts_dropped} further parts not listed.`) : null) : null;
  const headers = Array.isArray(m.headers) ? m.headers : [];
  const hdrSection = headers.length ? h('details.section', h('summary', h('h2.inline', `All headers (${headers.length})`)),
    table([{ label: 'Name', cell: (x) => x.name }, { label: 'Value', cell: (x) => x.value, cls: 'wrap' }], headers, { label: 'Headers' })) : null;
  const rawPre = h('pre.raw', { tabindex: '0', 'aria-label': 'Raw source' });
  const rawSection = h('details.section', h('summary', h('h2.inline', 'Raw source')), rawPre);
  rawSection.addEventListener('toggle', async () => {
    if (!rawSection.open || rawPre.dataset.loaded) return;
    rawPre.dataset.loaded = '1';
    rawPre.textContent = 'Loading…';
    try {
      const { text, truncated } = await fetchText(`${base}/raw`, RAW_SHOW_MAX);
      rawPre.textContent = text;
      if (truncated) rawSection.appendChild(notice('info', `Only the first ${fmtSize(RAW_SHOW_MAX)} are shown; download the .eml for all of it.`));
    } catch (e) {
      rawPre.textContent = `Cannot load the raw source: ${e.message}`;
    }
  });

  fill(ctx.main, toolbar,
    h('h1#msg-subject', { text: subject || '(no subject)' }),
    warnBox, summary, dlLinks,
    h('section.body', { 'aria-labelledby': 'body-h' },
      h('div.tabs', h('h2#body-h.inline', 'Body'), h('span.tabbar', { role: 'group', 'aria-label': 'Body format' }, btnText, btnHtml)),
      bodyArea),
    attSection, journalSection, copySection, authSection, envSection, partsSection, hdrSection, rawSection,
    h('p.hint', 'Keys: j / k next and previous message, u or Esc back to the results.'));
  if (nav && idx >= 0) nav.selected = idx;
  if (html) showHtml();
  else showText();
  focusHeading(ctx.main);
}
