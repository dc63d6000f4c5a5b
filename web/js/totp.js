// totp.js — showing a TOTP enrolment: the QR code the server drew
// (libqrencode, SVG), the otpauth:// URI and the key for typing in.
//
// The SVG is shown through <img src="data:image/svg+xml;base64,...">: an
// SVG loaded as an image runs no script and loads nothing, and the CSP
// allows data: images.  It is never put into this page as markup.

import { h } from './dom.js';

function b64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function enrolmentView(r) {
  const svg = r.qr_svg || (typeof r.qr === 'string' && r.qr.trim().startsWith('<') ? r.qr : null);
  const img = svg
    ? h('img', { src: `data:image/svg+xml;base64,${b64(svg)}`, alt: 'QR code of the otpauth URI: scan it with your authenticator app', width: '220', height: '220' })
    : r.qr_png ? h('img', { src: `data:image/png;base64,${r.qr_png}`, alt: 'QR code of the otpauth URI', width: '220', height: '220' }) : null;
  const uri = r.otpauth_uri || r.uri || '';
  return h('div.enrolment',
    h('p', 'Scan this code with an authenticator app (or enter the key by hand). From now on, sign in with your password and the 6-digit code the app shows.'),
    img ? h('div.qr', img) : null,
    h('dl.meta',
      h('dt', 'Key'), h('dd', h('span.secret', { id: 'totp-secret', text: r.secret || '' })),
      h('dt', 'otpauth URI'), h('dd', h('span.secret', { id: 'totp-uri', text: uri })),
      h('dt', 'Settings'), h('dd', `${r.algorithm || 'SHA1'}, ${r.digits || 6} digits, every ${r.period || 30} s`)),
    h('p.notice.warn', { role: 'note' }, 'The key is shown only this once.'));
}
