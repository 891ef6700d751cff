/**
 * `npm run bench:web`: the dashboard's first page, measured.
 *   - initial JavaScript: the entry script and the chunks index.html preloads, gzipped
 *     (what a browser downloads before the first page can render; pages load as their own chunks);
 *   - first page usable: a signed-in user opens /t/<tenant>/databases in a fresh browser profile
 *     (cold cache) on loopback; the clock runs from navigation start until the frame showing the
 *     list has been painted (recorded in the page, see watchFor). Median of RUNS (default 7) cold loads. Each load also reports when the
 *     first API call (/api/v1/auth/me) started and when the first paint happened, to show
 *     where the time goes.
 * Goals: < 250 KB gzipped initial JavaScript, < 1 s first page usable. Results: docs/performance.md.
 *
 * COMPARE_DIST=<dir> also measures another build of the dashboard (e.g. main's:
 * `npx vite build --outDir /tmp/base` in apps/web there), served by a second API on the same
 * database, alternating loads with this one so both see the same machine load.
 * Uses DATABASE_URL's server when set, else an embedded PostgreSQL.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TEST_KEYS } from '@switchyard/testkit';
import type { Browser, Page } from 'playwright-core';
import { startApi, type ApiServer } from '../e2e/support/stack.js';
import { launchBrowser } from '../e2e/web/support/browser.js';
import { PASSWORD, startWebStack, USERS, WEB_DIST } from '../e2e/web/support/web-stack.js';
import { scratchDatabase } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 7);
const COMPARE_DIST = process.env.COMPARE_DIST;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/** Initial JavaScript and CSS of a build, gzipped. */
function initialBytes(dist: string) {
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="([^"]+\.js)"/g)].map((m) => m[1]!);
  const styles = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+\.css)"/g)].map((m) => m[1]!);
  const size = (files: string[]) => files.reduce((n, f) => n + gzipSync(readFileSync(join(dist, f))).length, 0);
  return { files: scripts.length, js: size(scripts), css: size(styles) };
}
interface Load {
  usable: number;
  authMe: number;
  firstPaint: number;
  /** CPU time the renderer processes used from navigation until the list was on screen (ms). */
  cpu: number;
  /** Chromium's busy time of the page's main thread until the list was on screen (ms). */
  task: number;
  script: number;
  style: number;
  layout: number;
}

/**
 * Records, inside the page, when an element (`a` or `button` with exactly this text) is first
 * in the document and when the frame that shows it has been painted (the task after the next
 * animation frame). Measured in the page because Playwright's waitFor polls every 500 ms once
 * a wait has lasted ~300 ms: the time it returns says more about its polling than the page.
 */
// A string, not a function: tsx would add helpers (__name) the page does not have.
const watchFor = (tag: string, text: string) => `(() => {
  const found = () => [...document.querySelectorAll(${JSON.stringify(tag)})].some((e) => e.textContent.trim() === ${JSON.stringify(text)});
  const observer = new MutationObserver(() => {
    if (window.__shown || !found()) return;
    observer.disconnect();
    const shown = (window.__shown = { dom: performance.now() });
    requestAnimationFrame(() => setTimeout(() => (shown.painted = performance.now())));
  });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
})();`;

async function shownAt(page: Page): Promise<number> {
  const handle = await page.waitForFunction(() => (globalThis as unknown as { __shown?: { painted?: number } }).__shown?.painted);
  return (await handle.jsonValue()) as number;
}

/**
 * CPU seconds used so far by Chromium's renderer processes (in ms). Less sensitive to a busy
 * machine than wall time: waiting for a core is not counted.
 */
async function rendererCpu(browser: Browser): Promise<number> {
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: Array<{ type: string; cpuTime: number }> };
    return 1000 * processInfo.filter((p) => p.type === 'renderer').reduce((n, p) => n + p.cpuTime, 0);
  } finally {
    await cdp.detach();
  }
}

/** One cold load of the databases list by a signed-in owner, in a fresh profile. */
async function loadList(browser: Browser, url: string): Promise<Load> {
  const ctx = await browser.newContext({ baseURL: url });
  try {
    // Sign in through the API (the session cookie), so the measured load is the page itself.
    const r = await ctx.request.post('/api/v1/auth/login', { data: { email: USERS.owner, password: PASSWORD } });
    if (!r.ok()) throw new Error(`login: ${r.status()}`);
    await ctx.addInitScript(watchFor('a', 'orders'));
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Performance.enable');
    const cpu0 = await rendererCpu(browser);
    await page.goto('/t/acme/databases', { waitUntil: 'commit' });
    const usable = await shownAt(page);
    const cpu = (await rendererCpu(browser)) - cpu0;
    await page.getByRole('link', { name: 'orders' }).waitFor();
    const { metrics } = await cdp.send('Performance.getMetrics');
    const metric = (name: string) => 1000 * (metrics.find((m) => m.name === name)?.value ?? NaN);
    const times = await page.evaluate(() => {
      const me = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v1/auth/me'));
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      return { authMe: me?.startTime ?? NaN, firstPaint: paint?.startTime ?? NaN };
    });
    return { usable, cpu, ...times, task: metric('TaskDuration'), script: metric('ScriptDuration'), style: metric('RecalcStyleDuration'), layout: metric('LayoutDuration') };
  } finally {
    await ctx.close();
  }
}

async function loadLogin(browser: Browser, url: string): Promise<number> {
  const anon = await browser.newContext({ baseURL: url });
  try {
    await anon.addInitScript(watchFor('button', 'Sign in'));
    const lp = await anon.newPage();
    await lp.goto('/login', { waitUntil: 'commit' });
    const usable = await shownAt(lp);
    await lp.getByRole('button', { name: 'Sign in' }).waitFor();
    return usable;
  } finally {
    await anon.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(0)} ms`;

const stack0 = { db: await scratchDatabase('sy_bench_web') };
const stack = await startWebStack(stack0.db.url);
let other: ApiServer | null = null;
try {
  // Something to list: three databases, one enabled.
  for (const name of ['orders', 'billing', 'events']) {
    await stack.api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
  }
  await stack.api.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=true', { enabled: true });
  if (COMPARE_DIST) other = await startApi(stack0.db.url, stack.proxy.ports, { WEB_DIST_DIR: COMPARE_DIST, SWITCHYARD_KEYS: TEST_KEYS, PROPAGATION_TIMEOUT_MS: '5000' });

  const variants = [{ name: 'this build', dist: WEB_DIST, url: stack.url }, ...(other ? [{ name: `COMPARE_DIST ${COMPARE_DIST}`, dist: COMPARE_DIST!, url: other.url }] : [])];
  const results = variants.map(() => ({ loads: [] as Load[], login: [] as number[] }));
  const load0 = loadavg()[0]!;
  const browser = await launchBrowser();
  try {
    for (let i = 0; i < RUNS; i++) {
      // Alternate which variant goes first, so neither always follows the other.
      const order = i % 2 === 0 ? variants.map((_, k) => k) : variants.map((_, k) => k).reverse();
      for (const k of order) {
        results[k]!.loads.push(await loadList(browser, variants[k]!.url));
        results[k]!.login.push(await loadLogin(browser, variants[k]!.url));
      }
    }
  } finally {
    await browser.close();
  }
  const load1 = loadavg()[0]!;
  console.log('dashboard (npm run bench:web)');
  variants.forEach((v, k) => {
    const b = initialBytes(v.dist);
    const { loads, login } = results[k]!;
    const usable = loads.map((l) => l.usable);
    console.log(`${v.name}:`);
    console.log(`  initial JavaScript     ${kb(b.js)} gzipped in ${b.files} file(s) (goal < 250 KB); CSS ${kb(b.css)} gzipped`);
    console.log(`  databases list usable  median ${ms(median(usable))}, max ${ms(Math.max(...usable))} over ${RUNS} cold loads (goal < 1000 ms)`);
    console.log(`    /auth/me started     median ${ms(median(loads.map((l) => l.authMe)))}; first paint median ${ms(median(loads.map((l) => l.firstPaint)))}`);
    const m = (f: (l: Load) => number) => ms(median(loads.map(f)));
    console.log(`    renderer CPU time    median ${m((l) => l.cpu)}`);
    console.log(`    main thread busy     median ${m((l) => l.task)} (script ${m((l) => l.script)}, style ${m((l) => l.style)}, layout ${m((l) => l.layout)})`);
    console.log(`    each load (ms)       ${usable.map((u) => u.toFixed(0)).join(' ')}`);
    console.log(`  sign-in page usable    median ${ms(median(login))}, max ${ms(Math.max(...login))}`);
  });
  if (variants.length === 2) {
    const ratio = (f: (l: Load) => number) => (median(results[0]!.loads.map(f)) / median(results[1]!.loads.map(f))).toFixed(2);
    console.log(`  this build / COMPARE_DIST: list usable ${ratio((l) => l.usable)}, renderer CPU ${ratio((l) => l.cpu)}, main thread busy ${ratio((l) => l.task)}`);
  }
  console.log(`  load average (1 min) ${load0.toFixed(1)} before, ${load1.toFixed(1)} after`);
} finally {
  await other?.close();
  await stack.close();
  await stack0.db.close();
}
