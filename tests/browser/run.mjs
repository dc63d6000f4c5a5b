// run.mjs — runs every tests/browser/*.test.mjs in Debian's chromium through
// playwright-core and prints TAP.  Each test module exports
//   default async function (t, env)
// where t has ok/eq/diag and env gives startServer(spec) and newPage().
import { spawn } from 'node:child_process';
import { readdirSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

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
  diag(msg) {
    for (const line of String(msg).split('\n')) console.log(`# ${line}`);
  },
};

// Starts tests/browser/fixture.py; resolves to its JSON description plus stop().
function startServer(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [join(here, 'fixture.py')], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const rl = createInterface({ input: child.stdout });
    let resolved = false;
    rl.once('line', (line) => {
      resolved = true;
      const info = JSON.parse(line);
      info.stop = () =>
        new Promise((res) => {
          child.on('exit', (code) => res(code));
          child.stdin.end();
        });
      resolve(info);
    });
    child.on('exit', (code) => {
      if (!resolved) reject(new Error(`fixture exited ${code} before starting`));
    });
    child.stdin.write(JSON.stringify(spec) + '\n');
  });
}

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
  async newContext(opts = {}) {
    return browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 }, ...opts });
  },
};

const only = process.argv[2];
const files = readdirSync(here).filter((f) => f.endsWith('.test.mjs') && (!only || f.includes(only))).sort();
for (const f of files) {
  t.diag(`--- ${f}`);
  try {
    const mod = await import(join(here, f));
    await mod.default(t, env);
  } catch (e) {
    t.ok(false, `${f} ran to the end`, e.stack || String(e));
  }
}
await browser.close();
console.log(`1..${count}`);
process.exit(failed ? 1 : 0);
