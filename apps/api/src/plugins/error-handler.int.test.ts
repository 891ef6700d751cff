/**
 * The API serving the built dashboard (WEB_DIST_DIR): its pages get index.html, everything
 * else that matches no route — a Prometheus scraper's /metrics, /healthz/x, a mistyped API
 * path — the API's JSON 404, never the dashboard's HTML with 200.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../testing/harness.js';
import { DASHBOARD_SECTIONS } from './error-handler.js';

const INDEX = '<!doctype html><title>Switchyard</title><div id="root"></div>';
let dist: string;
let h: Harness;

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), 'sy-web-dist-'));
  writeFileSync(join(dist, 'index.html'), INDEX);
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'assets', 'app-1a2b3c.js'), 'console.log(1)');
  h = await createHarness({ WEB_DIST_DIR: dist });
});

afterAll(async () => {
  await h?.close();
  if (dist) rmSync(dist, { recursive: true, force: true });
});

const get = (url: string) => h.app.inject({ method: 'GET', url });

describe('the dashboard beside the API', () => {
  it('answers the dashboard’s pages, deep links included, with its index.html', async () => {
    for (const url of ['/', '/login?redirect=%2Ft%2Fdemo', '/account', '/t/demo/databases', '/t/demo/databases/orders?tab=access', '/admin/proxies']) {
      const r = await get(url);
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type'], url).toContain('text/html');
      expect(r.body, url).toBe(INDEX);
    }
    const asset = await get('/assets/app-1a2b3c.js');
    expect(asset.statusCode).toBe(200);
    expect(asset.body).toBe('console.log(1)');
  });

  it('answers /metrics, paths under /healthz and /readyz and other unknown paths with the JSON 404', async () => {
    for (const url of ['/metrics', '/healthz/x', '/readyz/', '/prometheus/metrics', '/docs2', '/t/demo/missing.js', '/assets/gone-123.js']) {
      const r = await get(url);
      expect(r.statusCode, url).toBe(404);
      expect(r.headers['content-type'], url).toContain('application/json');
      expect(r.json(), url).toMatchObject({ statusCode: 404, code: 'SY_NOT_FOUND', error: 'Not Found', message: `Route GET ${url} not found` });
      expect(r.json().requestId, url).toBe(r.headers['x-request-id']);
    }
    // What a monitoring system may scrape or probe is still there.
    expect((await get('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await get('/readyz')).json()).toEqual({ ready: true });
  });

  it('knows every section of the dashboard’s router', () => {
    // The children of the router's root and `authed` routes; their first path segment.
    const router = readFileSync(new URL('../../../web/src/app/router.tsx', import.meta.url), 'utf8');
    const top = [...router.matchAll(/getParentRoute: \(\) => (?:rootRoute|authedRoute),\s*path: '\/([^/']*)/g)].map((m) => m[1]!);
    expect(top.length).toBeGreaterThan(3);
    const sections = top.filter((s) => s !== '');
    expect([...new Set(sections)].sort()).toEqual([...DASHBOARD_SECTIONS].sort());
  });
});
