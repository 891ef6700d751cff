/**
 * The API serving the built dashboard (WEB_DIST_DIR): its pages get index.html, everything
 * else that matches no route — a Prometheus scraper's /metrics, /healthz/x, a mistyped API
 * path — the API's JSON 404, never the dashboard's HTML with 200. And a transaction PostgreSQL
 * aborted for a concurrent one (a real deadlock here) is a 409 to retry, not a 500.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prisma } from '@switchyard/db';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../testing/harness.js';
import { DASHBOARD_SECTIONS, errorHandlerPlugin } from './error-handler.js';

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

describe('a transaction PostgreSQL aborted for a concurrent one', () => {
  /** Two transactions take two locks in opposite orders: PostgreSQL aborts one with 40P01. */
  async function deadlock(statement: 'raw' | 'model'): Promise<Prisma.PrismaClientKnownRequestError> {
    let tookFirst1!: () => void;
    let tookFirst2!: () => void;
    const took1 = new Promise<void>((r) => (tookFirst1 = r));
    const took2 = new Promise<void>((r) => (tookFirst2 = r));
    const lock = (tx: Prisma.TransactionClient, key: number) =>
      statement === 'raw' ? tx.$executeRaw`SELECT pg_advisory_xact_lock(${key})` : tx.tenant.update({ where: { slug: `dl${key}` }, data: { name: `locked ${key}` } });
    const run = (a: number, b: number, took: () => void, theirs: Promise<void>) =>
      h.app.prisma.$transaction(async (tx) => {
        await lock(tx, a);
        took();
        await theirs;
        await lock(tx, b);
      });
    const settled = await Promise.allSettled([run(1, 2, tookFirst1, took2), run(2, 1, tookFirst2, took1)]);
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    return failed[0]!.reason as Prisma.PrismaClientKnownRequestError;
  }

  it('a deadlock in a raw statement or a model write is answered 409 SY_CONFLICT, to retry', async () => {
    for (const slug of ['dl1', 'dl2']) await h.app.prisma.tenant.create({ data: { slug, name: slug } });
    const errors = [await deadlock('raw'), await deadlock('model')];
    // Whatever Prisma calls it (P2010 naming 40P01 from a raw query; P2034 otherwise), the client
    // reads the same answer.
    const app = Fastify();
    await app.register(errorHandlerPlugin);
    let next = 0;
    app.get('/conflict', async () => {
      throw errors[next++]!;
    });
    for (let i = 0; i < errors.length; i++) {
      const r = await app.inject({ method: 'GET', url: '/conflict' });
      expect(r.statusCode).toBe(409);
      expect(r.json()).toMatchObject({ code: 'SY_CONFLICT', message: expect.stringMatching(/concurrent change.*retry/) });
    }
    await app.close();
  });
});
