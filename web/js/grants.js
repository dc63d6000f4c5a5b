// grants.js — choosing {role, archive} grants (users and API tokens).

import { h, field } from './dom.js';
import { api } from './api.js';
import { listOf } from './format.js';

export const ROLES = [
  ['auditor', 'auditor — search, read, export'],
  ['legal', 'legal — search, read, export, legal holds'],
  ['admin', 'admin — archives, users, settings (no mail unless also auditor)'],
  ['ingest', 'ingest — SMTP AUTH and message submission only'],
];

export async function archiveOptions() {
  let names = [];
  try {
    names = listOf(await api('GET', '/api/v1/archives'), 'archives').map((a) => a.name).filter((n) => n && !n.startsWith('_'));
  } catch (e) {
    if (e.status === 401) throw e;
  }
  return [['*', 'all archives (*)'], ...names.map((n) => [n, n])];
}

export const grantText = (g) => `${g.role} on ${g.archive === '*' ? 'all archives' : g.archive}`;

// A role + archive picker: {row, value()}.
export function grantPicker(archives, label = 'Grant') {
  const role = field('Role', { kind: 'select', options: ROLES, value: 'auditor' });
  const arch = field('Archive', { kind: 'select', options: archives, value: '*' });
  const row = h('fieldset.grant', h('legend', label), h('div.cols', role.row, arch.row));
  return { row, value: () => ({ role: role.input.value, archive: arch.input.value }), role, arch };
}
