// query.js — what the UI knows about the query language (DESIGN.md §6):
// the fields with their meaning and example values, for the suggestions
// shown while typing and for the syntax help panel.  The server parses and
// checks the query; nothing here decides what a query means.

export const FIELDS = [
  ['from', 'Sender address or name', 'from:alice@example.com'],
  ['to', 'Recipient in To (and journal recipients)', 'to:bob@example.com'],
  ['cc', 'Recipient in Cc (and journal recipients)', 'cc:legal@example.com'],
  ['bcc', 'Bcc recipient, as the journal report lists it', 'bcc:ceo@example.com'],
  ['participant', 'Any of from, to, cc, bcc', 'participant:carol@example.com'],
  ['subject', 'Words in the subject', 'subject:invoice'],
  ['body', 'Words in the body text', 'body:"wire transfer"'],
  ['attachment', 'Words in attachment text', 'attachment:contract'],
  ['filename', 'Attachment file name', 'filename:report.pdf'],
  ['has', 'has:attachment — messages with attachments', 'has:attachment'],
  ['message-id', 'Message-ID header', 'message-id:abc123@example.com'],
  ['in-reply-to', 'In-Reply-To header', 'in-reply-to:abc123@example.com'],
  ['archive', 'Only this archive', 'archive:default'],
  ['hold', 'Messages under this legal hold', 'hold:acme-litigation'],
  ['after', 'Sent on or after (Date header)', 'after:2024-01-01'],
  ['before', 'Sent before (Date header)', 'before:2024-07-01'],
  ['date', 'Sent in a period (A..B) or in the last …', 'date:2024-01-01..2024-03-31'],
  ['received', 'Received by Vellum in a period, or in the last …', 'received:24h'],
  ['size', 'Message size', 'size:>1M'],
  ['dmarc', 'DMARC result of the receiving system', 'dmarc:fail'],
  ['spf', 'SPF result', 'spf:pass'],
  ['dkim', 'DKIM result', 'dkim:fail'],
  ['direction', 'inbound, outbound or internal', 'direction:outbound'],
  ['is', 'is:quarantined, is:truncated, is:journal …', 'is:truncated'],
];

const TIME_VALUES = ['12h', '24h', '7d', '30d', '90d', '1y'];
const AUTH_VALUES = ['pass', 'fail', 'none', 'softfail', 'neutral', 'temperror', 'permerror'];

export const VALUES = {
  has: ['attachment'],
  is: ['quarantined', 'truncated', 'journal', 'malformed', 'unparsed', 'encrypted', 'nodate'],
  direction: ['inbound', 'outbound', 'internal'],
  dmarc: AUTH_VALUES,
  spf: AUTH_VALUES,
  dkim: AUTH_VALUES,
  date: TIME_VALUES,
  received: TIME_VALUES,
  after: [],
  before: [],
  size: ['>1M', '>10M', '<10K', '1M..10M'],
};

export const OPERATORS = [
  ['word', 'Messages containing the word anywhere (headers, body, attachments)', 'pelican'],
  ['"a phrase"', 'Exact phrase', '"quarterly results"'],
  ['A B', 'Both (AND is implied)', 'merger pelican'],
  ['A OR B', 'Either', 'pelican OR heron'],
  ['-A, NOT A', 'Without', 'merger -draft'],
  ['( … )', 'Grouping', '(from:pat OR from:sam) subject:contract'],
  ['pre*', 'Words starting with', 'pelic*'],
  ['*', 'Every message you may see', '*'],
  ['A..B', 'A range of dates, times or sizes', 'date:2024-01..2024-03'],
  ['12h 7d 2w 3mo 1y', 'Periods back from now', 'received:7d'],
];

// The token being typed at the caret: {start, end, neg, field, value}.
export function tokenAt(text, caret) {
  let start = caret;
  while (start > 0 && !/[\s(]/.test(text[start - 1])) start--;
  let end = caret;
  while (end < text.length && !/[\s)]/.test(text[end])) end++;
  let tok = text.slice(start, caret);
  let neg = '';
  if (tok.startsWith('-')) {
    neg = '-';
    tok = tok.slice(1);
  }
  const colon = tok.indexOf(':');
  if (colon < 0) return { start, end, neg, field: null, value: tok };
  return { start, end, neg, field: tok.slice(0, colon).toLowerCase(), value: tok.slice(colon + 1) };
}

// Suggestions for the token at the caret: [{insert, label, hint}], where
// `insert` replaces the token.  extra: {archive: [...], hold: [...]}.
export function suggest(text, caret, extra = {}) {
  const t = tokenAt(text, caret);
  const out = [];
  if (t.field === null) {
    const p = t.value.toLowerCase();
    if (!p || p.startsWith('"')) return [];
    for (const [name, hint] of FIELDS) {
      if (name.startsWith(p) && name !== p) out.push({ insert: `${t.neg}${name}:`, label: `${name}:`, hint, more: true });
    }
    return out.slice(0, 10);
  }
  const known = extra[t.field] || VALUES[t.field];
  if (!known) return [];
  const p = t.value.toLowerCase();
  for (const v of known) {
    if (String(v).toLowerCase().startsWith(p) && String(v).toLowerCase() !== p) {
      const quoted = /[\s()"]/.test(v) ? `"${v}"` : v;
      out.push({ insert: `${t.neg}${t.field}:${quoted} `, label: `${t.field}:${v}`, hint: '' });
    }
  }
  return out.slice(0, 10);
}

// The query sent to the server: the user's query plus the quick filters.
// f: {when: '12h'|'7d'|'30d'|'custom'|'', dfield: 'received'|'date', dfrom, dto, att}
export function composeQuery(q, f) {
  const parts = [];
  const field = f.dfield === 'date' ? 'date' : 'received';
  if (f.when === 'custom') {
    if (f.dfrom || f.dto) parts.push(`${field}:${f.dfrom || ''}..${f.dto || ''}`);
  } else if (f.when) {
    parts.push(`${field}:${f.when}`);
  }
  if (f.att) parts.push('has:attachment');
  const user = (q || '').trim();
  if (!parts.length) return user;
  if (!user || user === '*') return parts.join(' ');
  return `(${user}) ${parts.join(' ')}`;
}
