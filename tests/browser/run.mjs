// run.mjs — runs every tests/browser/*.test.mjs in Debian's chromium through
// playwright-core and prints TAP.  Each test module exports
//   default async function (t, env)
// where t has ok/eq/skip/diag and env gives startServer(spec), newContext()
// and the artifacts directory (screenshots).
//   node run.mjs [NAME]      only the test files whose name contains NAME
import { readdirSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const srcdir = process.env.VELLUM_SRCDIR || join(here, '..', '..');
const builddir = process.env.VELLUM_BUILDDIR || join(srcdir, 'build');
export const artifacts = join(builddir, 'browser-artifacts');
mkdirSync(artifacts, { recursive: true });

let count = 0;
let failed = 0;
const t = {
  ok(cond, name, diag) {
    count++;
    console.log(`${cond ? 'ok' : 'not ok'} ${count} - ${name}`);
    if (!cond) {
      failed++;
      if (diag !== undefined) t.diag(typeof diag === 'string' ? diag : JSON.stringify(diag));
    }
    return !!cond;
  },
  eq(got, want, name) {
    return t.ok(got === want, name, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  },
  skip(name, why) {
    count++;
    console.log(`ok ${count} - ${name} # SKIP ${why}`);
  },
  diag(msg) {
    for (const line of String(msg).split('\n')) console.log(`# ${line}`);
  },
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

const env = {
  startServer,
  artifacts,
  browser,
  async newContext(opts = {}) {
    return browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 }, ...opts });
  },
};

const only = process.argv[2];
const files = readdirSync(here).filter((f) => f.endsWith('.test.mjs') && (!only || f.includes(only))).sort();
const t0 = Date.now();
for (const f of files) {
  t.diag(`--- ${f}`);
  const t1 = Date.now();
  try {
    const mod = await import(join(here, f));
    await mod.default(t, env);
  } catch (e) {
    t.ok(false, `${f} ran to the end`, e.stack || String(e));
  }
  t.diag(`${f}: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
}
await browser.close();
t.diag(`all: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`1..${count}`);
process.exit(failed ? 1 : 0);
