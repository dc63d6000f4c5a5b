// dom.js — building the page without markup strings.
//
// The one rule of this UI: data from the server (and above all message data:
// subjects, names, file names, header values) reaches the page only as text
// nodes or as attribute values set through the DOM.  Nothing here parses
// HTML, and nothing in the UI uses innerHTML, outerHTML, insertAdjacentHTML
// or document.write.  Event handlers are attached with addEventListener, so
// the page runs under a CSP without 'unsafe-inline'.

// h('tag.class#id', {attr: value, on: {click: fn}}, child, ...)
// Children: strings and numbers become text nodes; null/false/undefined are
// skipped; arrays are flattened.  Attributes named on* are refused (use `on`).
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9-]+)((?:[.#][\w-]+)*)$/i.exec(spec);
  if (!m) throw new Error(`bad element spec ${spec}`);
  const el = document.createElement(m[1]);
  for (const part of m[2].match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      for (const c of String(v).split(/\s+/).filter(Boolean)) el.classList.add(c);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled' ||
               k === 'hidden' || k === 'required' || k === 'readOnly' || k === 'htmlFor') {
      el[k] = v;
    } else if (/^on/i.test(k) || k === 'style' || k === 'srcdoc') {
      throw new Error(`refusing attribute ${k}`);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// Replaces el's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
export const newId = (p = 'f') => `${p}-${++uid}`;

// A labelled form field: returns {row, input}.  kind: 'input' (with type),
// 'select' (options: [[value, text]]), 'textarea', 'checkbox'.
export function field(label, opts = {}) {
  const id = opts.id || newId();
  let input;
  if (opts.kind === 'select') {
    input = h('select', { id, name: opts.name, required: opts.required });
    for (const [v, t] of opts.options || []) input.appendChild(h('option', { value: v, text: t }));
    if (opts.value !== undefined) input.value = opts.value;
  } else if (opts.kind === 'textarea') {
    input = h('textarea', { id, name: opts.name, rows: opts.rows || 3, required: opts.required,
                            placeholder: opts.placeholder });
    if (opts.value !== undefined) input.value = opts.value;
  } else {
    input = h('input', { id, name: opts.name, type: opts.type || 'text', required: opts.required,
                         placeholder: opts.placeholder, autocomplete: opts.autocomplete || 'off',
                         inputmode: opts.inputmode, min: opts.min, max: opts.max,
                         pattern: opts.pattern, readOnly: opts.readOnly });
    if (opts.value !== undefined) input.value = opts.value;
    if (opts.checked) input.checked = true;
  }
  if (opts.describedBy) input.setAttribute('aria-describedby', opts.describedBy);
  const lab = h('label', { for: id, text: label });
  const hint = opts.hint ? h('span.hint', { id: `${id}-hint`, text: opts.hint }) : null;
  if (hint) input.setAttribute('aria-describedby', hint.id);
  const row = opts.type === 'checkbox' || opts.type === 'radio'
    ? h('div.field.check', input, lab, hint)
    : h('div.field', lab, input, hint);
  return { row, input };
}

// A description list from [label, value] pairs; empty values are skipped.
// A value may be a Node (already built safely) or text.
export function dl(pairs, cls = 'meta') {
  const d = h(`dl.${cls}`);
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    d.append(h('dt', { text: k }), h('dd', v instanceof Node ? v : String(v)));
  }
  return d;
}

// A table: cols = [{label, cell(row) -> text|Node, cls}], rows = [...].
export function table(cols, rows, opts = {}) {
  const thead = h('thead', h('tr', cols.map((c) => h('th', { scope: 'col', class: c.cls, text: c.label }))));
  const tbody = h('tbody');
  for (const r of rows) {
    const tr = h('tr');
    for (const c of cols) {
      const v = c.cell(r);
      tr.appendChild(h('td', { class: c.cls }, v instanceof Node ? v : v === undefined || v === null ? '' : String(v)));
    }
    if (opts.rowHook) opts.rowHook(tr, r);
    tbody.appendChild(tr);
  }
  const t = h('table.grid', { 'aria-label': opts.label }, opts.caption ? h('caption', { text: opts.caption }) : null, thead, tbody);
  return h('div.table-wrap', t);
}

// A status/error line that screen readers announce.
export function notice(kind, text) {
  return h(`p.notice.${kind}`, { role: kind === 'error' ? 'alert' : 'status', text });
}

// A link inside the app.
export const link = (href, text, attrs = {}) => h('a', { href, ...attrs, text });
