/**
 * `npm run bench:web`: the dashboard's first page, measured.
 *   - initial JavaScript: the entry script and the chunks index.html preloads, gzipped
 *     (what a browser downloads before the first page can render; pages load as their own chunks);
 *   - first page usable: a signed-in user opens /t/<tenant>/databases in a fresh browser profile
 *     (cold cache) on loopback; the clock runs from navigation start until the list (or its empty
 *     state) is on screen. Median of RUNS (default 7) cold loads.
 * Goals: < 250 KB gzipped initial JavaScript, < 1 s first page usable. Results: docs/performance.md.
 * Uses DATABASE_URL's server when set, else an embedded PostgreSQL.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { launchBrowser } from '../e2e/web/support/browser.js';
import { PASSWORD, startWebStack, USERS, WEB_DIST } from '../e2e/web/support/web-stack.js';
import { scratchDatabase } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 7);
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

const stack0 = { db: await scratchDatabase('sy_bench_web') };
const stack = await startWebStack(stack0.db.url);
try {
  const html = readFileSync(join(WEB_DIST, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="([^"]+\.js)"/g)].map((m) => m[1]!);
  const styles = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+\.css)"/g)].map((m) => m[1]!);
  const size = (files: string[]) => files.reduce((n, f) => n + gzipSync(readFileSync(join(WEB_DIST, f))).length, 0);
  const jsGz = size(scripts);
  const cssGz = size(styles);

  // Something to list: three databases, one enabled.
  for (const name of ['orders', 'billing', 'events']) {
    await stack.api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
  }
  await stack.api.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=true', { enabled: true });

  const browser = await launchBrowser();
  const times: number[] = [];
  const loginTimes: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const ctx = await browser.newContext({ baseURL: stack.url });
      // Sign in through the API (the session cookie), so the measured load is the page itself.
      const r = await ctx.request.post('/api/v1/auth/login', { data: { email: USERS.owner, password: PASSWORD } });
      if (!r.ok()) throw new Error(`login: ${r.status()}`);
      const page = await ctx.newPage();
      await page.goto('/t/acme/databases', { waitUntil: 'commit' });
      await page.getByRole('link', { name: 'orders' }).waitFor();
      times.push(await page.evaluate(() => performance.now()));
      await ctx.close();

      const anon = await browser.newContext({ baseURL: stack.url });
      const lp = await anon.newPage();
      await lp.goto('/login', { waitUntil: 'commit' });
      await lp.getByRole('button', { name: 'Sign in' }).waitFor();
      loginTimes.push(await lp.evaluate(() => performance.now()));
      await anon.close();
    }
  } finally {
    await browser.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log('dashboard (npm run bench:web)');
  console.log(`  initial JavaScript   ${kb(jsGz)} gzipped in ${scripts.length} file(s) (goal < 250 KB); CSS ${kb(cssGz)} gzipped`);
  console.log(`  databases list usable  median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms over ${RUNS} cold loads (goal < 1000 ms)`);
  console.log(`  sign-in page usable    median ${median(loginTimes).toFixed(0)} ms, max ${Math.max(...loginTimes).toFixed(0)} ms`);
} finally {
  await stack.close();
  await stack0.db.close();
}
