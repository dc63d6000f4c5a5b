// format.js — turning API values into display text (never markup).

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

export function fmtSize(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const u = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}

export const fmtCount = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '');

export function addrText(a) {
  if (a === null || a === undefined) return '';
  if (Array.isArray(a)) return a.map(addrText).filter(Boolean).join(', ');
  if (typeof a === 'object') return a.name ? `${a.name} <${a.address || ''}>` : a.address || a.addr || '';
  return String(a);
}

// A duration in seconds as "3 h 5 min".
export function fmtDuration(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '';
  if (s < 1) return '0 s';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

// Retention as the API gives it: a duration string, "permanent", or an
// object {days} / seconds.
export function fmtRetention(r) {
  if (r === null || r === undefined || r === '') return '';
  if (typeof r === 'number') return fmtDuration(r);
  if (typeof r === 'object') return r.text || r.value || JSON.stringify(r);
  return String(r);
}

// The first array found under any of the names (or the value itself when it
// is an array): lists may come as {exports: [...]} or as [...].
export function listOf(data, ...names) {
  if (Array.isArray(data)) return data;
  for (const n of names) if (data && Array.isArray(data[n])) return data[n];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

// The first present field among names.
export function pick(o, ...names) {
  if (!o) return undefined;
  for (const n of names) if (o[n] !== undefined && o[n] !== null) return o[n];
  return undefined;
}

export const yesNo = (b) => (b ? 'yes' : 'no');
