// The UI's sources, read as files: the rules the browser tests cannot see
// all of.  No HTML is ever parsed from strings (innerHTML, outerHTML,
// insertAdjacentHTML, document.write, DOMParser, srcdoc, createContextualFragment),
// no code from strings (eval, new Function, string timers), no inline script
// or style in the HTML, nothing fetched from anywhere but our own origin
// (no http(s):// or protocol-relative URLs, no @import/url() off-site), and
// every file the build embeds is listed in web/web.mk.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export default async function (t) {
  const srcdir = process.env.VELLUM_SRCDIR || join(new URL('.', import.meta.url).pathname, '..', '..');
  const web = join(srcdir, 'web');
  const files = walk(web).filter((f) => /\.(js|mjs|html|css|svg)$/.test(f));
  const mk = readFileSync(join(web, 'web.mk'), 'utf8');
  const problems = { html: [], code: [], inline: [], remote: [], unlisted: [] };
  // Comments may mention what the code must not do.
  const strip = (s) => s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1').replace(/<!--[\s\S]*?-->/g, '');
  for (const f of files) {
    const rel = relative(srcdir, f);
    const src = strip(readFileSync(f, 'utf8'));
    if (!mk.includes(rel)) problems.unlisted.push(rel);
    if (/\.(m?js)$/.test(f)) {
      for (const re of [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /DOMParser/, /createContextualFragment/, /\bsrcdoc\b(?!['"]\s*\))/]) {
        if (re.test(src) && !(re.source.includes('srcdoc') && /k === 'srcdoc'/.test(src))) problems.html.push(`${rel}: ${re.source}`);
      }
      for (const re of [/\beval\s*\(/, /new\s+Function\s*\(/, /setTimeout\s*\(\s*['"`]/, /setInterval\s*\(\s*['"`]/]) if (re.test(src)) problems.code.push(`${rel}: ${re.source}`);
      if (/setAttribute\(\s*['"]style['"]/.test(src) || /\.style\.cssText/.test(src)) problems.inline.push(`${rel}: style attribute`);
      if (/setAttribute\(\s*['"]on\w+['"]/.test(src)) problems.inline.push(`${rel}: on* attribute`);
    }
    if (/\.html$/.test(f)) {
      if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(src)) problems.inline.push(`${rel}: inline <script>`);
      if (/\sstyle\s*=/i.test(src) || /<style/i.test(src)) problems.inline.push(`${rel}: inline style`);
      if (/\son[a-z]+\s*=/i.test(src)) problems.inline.push(`${rel}: on* attribute`);
    }
    for (const m of src.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s'"`)]*/gi)) {
      if (/^http:\/\/www\.w3\.org\/2000\/svg/.test(m[0])) continue; // an XML namespace, never fetched
      problems.remote.push(`${rel}: ${m[0]}`);
    }
    if (/\.css$/.test(f) && /@import|url\(\s*['"]?(?!data:)/.test(src)) problems.remote.push(`${rel}: @import/url()`);
  }
  t.ok(files.length >= 10, `the UI's sources are there (${files.length} files)`);
  t.ok(problems.html.length === 0, 'no HTML is parsed from strings (innerHTML and friends)', problems.html.join('\n'));
  t.ok(problems.code.length === 0, 'no code from strings (eval, new Function, string timers)', problems.code.join('\n'));
  t.ok(problems.inline.length === 0, 'no inline script, style or event-handler attributes', problems.inline.join('\n'));
  t.ok(problems.remote.length === 0, 'nothing refers to another host (no CDN, no remote fonts)', problems.remote.join('\n'));
  t.ok(problems.unlisted.length === 0, 'every UI file is listed in web/web.mk (so it is embedded)', problems.unlisted.join('\n'));
}
