/**
 * The API's Prometheus metrics: served by the real process on its own port (never on the
 * public API port), counters that move with real requests, certificate gauges computed from
 * real rows, and at most one database query per cache period however often it is scraped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createTestDatabase, getFreePort, type TestDatabase } from '@switchyard/db/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { loadConfig } from './config.js';
import { ApiMetrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { createHarness, seedTenant, type Harness } from './testing/harness.js';

/** The value of one series in Prometheus text (labels as written by prom-client), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('the API process', () => {
  let db: TestDatabase;
  let child: ChildProcess | null = null;
  let out = '';

  /** Starts apps/api/src/server.ts; resolves once both listeners are up, or when it exits. */
  async function startProcess(env: Record<string, string>, until: string): Promise<ChildProcess> {
    const proc = spawn(process.execPath, ['--conditions=switchyard-source', '--import', 'tsx', join(import.meta.dirname, 'server.ts')], {
      env: { ...process.env, DATABASE_URL: db.url, API_HOST: '127.0.0.1', API_METRICS_HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    out = '';
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes(until)) resolve();
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', () => resolve());
    });
    return proc;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await db?.drop();
  });

  it('serves /metrics on API_METRICS_PORT only; the public port answers it with its JSON 404', async () => {
    const apiPort = await getFreePort();
    const metricsPort = await getFreePort();
    child = await startProcess({ API_PORT: String(apiPort), API_METRICS_PORT: String(metricsPort) }, '"msg":"metrics listening"');
    expect(child.exitCode, out).toBeNull();
    const api = `http://127.0.0.1:${apiPort}`;
    const metrics = `http://127.0.0.1:${metricsPort}/metrics`;

    const publicMetrics = await fetch(`${api}/metrics`);
    expect(publicMetrics.status).toBe(404);
    expect(await publicMetrics.json()).toMatchObject({ code: 'SY_NOT_FOUND' });

    const first = await fetch(metrics);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toContain('text/plain');
    const before = await first.text();
    // Default process and Node.js metrics, under the API's prefix.
    expect(before).toContain('switchyard_api_process_cpu_seconds_total');
    expect(before).toContain('switchyard_api_nodejs_eventloop_lag_seconds');
    const meta = 'switchyard_api_http_requests_total{route="/api/v1/meta",method="GET",status="200"}';
    const unmatched = 'switchyard_api_http_requests_total{route="unmatched",method="GET",status="404"}';
    const n0 = sample(before, meta) ?? 0;
    for (let i = 0; i < 3; i++) expect((await fetch(`${api}/api/v1/meta`)).status).toBe(200);
    expect((await fetch(`${api}/api/v1/tenants/no-such-tenant-x1`)).status).toBe(401);
    const after = await (await fetch(metrics)).text();
    expect(sample(after, meta)).toBe(n0 + 3);
    expect(sample(after, unmatched)).toBeGreaterThanOrEqual(1);
    // Route patterns, never URLs: the tenant slug is no label value.
    expect(after).toContain('switchyard_api_http_requests_total{route="/api/v1/tenants/:tenant",method="GET",status="401"} 1');
    expect(after).not.toContain('no-such-tenant-x1');
    expect(sample(after, 'switchyard_api_http_request_duration_seconds_count{route="/api/v1/meta",method="GET"}')).toBe(n0 + 3);
    // The metrics port serves nothing else.
    expect((await fetch(`http://127.0.0.1:${metricsPort}/api/v1/meta`)).status).toBe(404);

    // A second replica on the same metrics port is a deployment error: it says so and exits.
    const second = await startProcess({ API_PORT: String(await getFreePort()), API_METRICS_PORT: String(metricsPort) }, 'cannot listen for metrics');
    const [code] = second.exitCode !== null ? [second.exitCode] : ((await once(second, 'exit')) as [number]);
    expect(code, out).toBe(1);
    expect(out).toContain('API_METRICS_PORT');
  });

  it('opens no metrics listener with API_METRICS_PORT=0 or empty', async () => {
    for (const port of ['0', '']) {
      const config = loadConfig({ DATABASE_URL: db.url, API_METRICS_PORT: port });
      expect(config.metrics).toEqual({ host: '0.0.0.0', port: 0 });
      const unused = { $queryRaw: (() => Promise.reject(new Error('not scraped'))) as never };
      expect(await startMetricsServer(new ApiMetrics(unused), config.metrics, pino({ level: 'silent' }))).toBeNull();
    }
    expect(loadConfig({ DATABASE_URL: db.url }).metrics).toEqual({ host: '0.0.0.0', port: 9482 });
  });
});

describe('metrics of a running API', () => {
  let h: Harness;
  let owner: string;

  beforeAll(async () => {
    h = await createHarness({ SWITCHYARD_KEYS: `k1:${randomBytes(32).toString('base64')}` });
    ({ token: owner } = await seedTenant(h));
  });
  afterAll(async () => h?.close());

  const mkdb = async (name: string, access: Record<string, unknown>) => {
    expect((await h.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: `pg.acme.svc.cluster.local`, port: 5432 } }, owner)).statusCode).toBe(201);
    const r = await h.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access`, access, owner);
    expect(r.statusCode, r.body).toBe(200);
  };
  const certOf = async (name: string) => (await h.app.prisma.route.findFirstOrThrow({ where: { database: { name } }, include: { certificate: true } })).certificate!;

  it('computes the certificate gauges from the rows: enabled terminate routes only, ACME certificates by state', async () => {
    // Nothing yet: no soonest expiry (absent, not 0 = 1970), nothing expiring.
    const empty = await new ApiMetrics(h.app.prisma, { cacheMs: 0 }).text();
    expect(empty).not.toMatch(/^switchyard_api_route_certificate_soonest_expiry_timestamp_seconds /m);
    expect(sample(empty, 'switchyard_api_route_certificates_expiring')).toBe(0);
    expect(sample(empty, 'switchyard_api_acme_certificates{state="pending"}')).toBe(0);

    await mkdb('orders', { enabled: true, tlsMode: 'terminate' });
    await mkdb('ledger', { enabled: true, tlsMode: 'terminate' });
    await mkdb('offline', { enabled: true, tlsMode: 'terminate' });
    await mkdb('plain', { enabled: true, tlsMode: 'passthrough' });
    const soon = new Date(Date.now() + 3 * 86_400_000);
    await h.app.prisma.certificate.update({ where: { id: (await certOf('ledger')).id }, data: { notAfter: soon } });
    // A disabled route's certificate expiring tomorrow concerns nobody.
    await h.app.prisma.certificate.update({ where: { id: (await certOf('offline')).id }, data: { notAfter: new Date(Date.now() + 86_400_000) } });
    expect((await h.call('PUT', '/api/v1/tenants/acme/databases/offline/external-access', { enabled: false }, owner)).statusCode).toBe(200);
    const tenantId = (await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } })).id;
    await h.app.prisma.acmeCertificate.createMany({
      data: [
        { id: randomUUID(), tenantId, hostname: 'a.acme.db.example.com', challengeType: 'tls-alpn-01', state: 'pending' },
        { id: randomUUID(), tenantId, hostname: 'b.acme.db.example.com', challengeType: 'tls-alpn-01', state: 'pending' },
        { id: randomUUID(), tenantId, hostname: 'c.acme.db.example.com', challengeType: 'http-01', state: 'failed' },
      ],
    });

    // The app's own metrics (what its metrics port serves).
    const text = await h.app.metrics.text();
    expect(sample(text, 'switchyard_api_route_certificate_soonest_expiry_timestamp_seconds')).toBe(soon.getTime() / 1000);
    expect(sample(text, 'switchyard_api_route_certificates_expiring')).toBe(1);
    expect(sample(text, 'switchyard_api_acme_certificates{state="pending"}')).toBe(2);
    expect(sample(text, 'switchyard_api_acme_certificates{state="failed"}')).toBe(1);
    expect(sample(text, 'switchyard_api_acme_certificates{state="issued"}')).toBe(0);
    expect(sample(text, 'switchyard_api_metrics_db_updated_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);

    // Expired counts as expiring; the soonest follows.
    const past = new Date(Date.now() - 86_400_000);
    await h.app.prisma.certificate.update({ where: { id: (await certOf('orders')).id }, data: { notAfter: past } });
    const later = await new ApiMetrics(h.app.prisma, { cacheMs: 0 }).text();
    expect(sample(later, 'switchyard_api_route_certificate_soonest_expiry_timestamp_seconds')).toBe(past.getTime() / 1000);
    expect(sample(later, 'switchyard_api_route_certificates_expiring')).toBe(2);
  });

  it('runs at most one database query per cache period, however many scrapes, concurrent or not', async () => {
    let queries = 0;
    const counting = {
      $queryRaw: ((...args: Parameters<typeof h.app.prisma.$queryRaw>) => {
        queries++;
        return h.app.prisma.$queryRaw(...args);
      }) as typeof h.app.prisma.$queryRaw,
    };
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const m = new ApiMetrics(counting, { cacheMs: 5000 });
      const texts = await Promise.all(Array.from({ length: 10 }, () => m.text()));
      for (let i = 0; i < 5; i++) texts.push(await m.text());
      expect(queries).toBe(1);
      for (const t of texts) expect(sample(t, 'switchyard_api_acme_certificates{state="pending"}')).toBe(2);
      vi.advanceTimersByTime(4000);
      await m.text();
      expect(queries).toBe(1);
      // The next period: one more.
      vi.advanceTimersByTime(1000);
      await Promise.all([m.text(), m.text(), m.text()]);
      expect(queries).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the previous values, counts the failure and does not retry before the period ends when the query fails', async () => {
    let fail = false;
    let queries = 0;
    const flaky = {
      $queryRaw: ((...args: Parameters<typeof h.app.prisma.$queryRaw>) => {
        queries++;
        return fail ? Promise.reject(new Error('connection refused')) : h.app.prisma.$queryRaw(...args);
      }) as typeof h.app.prisma.$queryRaw,
    };
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const m = new ApiMetrics(flaky, { cacheMs: 5000 });
      expect(sample(await m.text(), 'switchyard_api_acme_certificates{state="pending"}')).toBe(2);
      fail = true;
      vi.advanceTimersByTime(5000);
      const t = await m.text();
      await m.text();
      expect(queries).toBe(2);
      expect(sample(t, 'switchyard_api_acme_certificates{state="pending"}')).toBe(2);
      expect(sample(await m.text(), 'switchyard_api_metrics_db_errors_total')).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('counts propagation waits by result', async () => {
    const series = (result: string) => `switchyard_api_propagation_waits_total{source="request",result="${result}"}`;
    const before = await h.app.metrics.text();
    expect(sample(before, series('timeout'))).toBe(0);
    await mkdb('waits', { enabled: false });
    const put = (enabled: boolean) => h.call('PUT', `/api/v1/tenants/acme/databases/waits/external-access?wait=true&timeoutMs=300`, { enabled }, owner);
    // No proxy at all.
    expect((await put(true)).json().propagation.state).toBe('no-proxies');
    // A live proxy that never applies the change.
    await h.app.prisma.proxyInstance.create({ data: { id: 'p-stuck', hostname: 'a', pid: 1, version: 't', appliedVersion: 0, startedAt: new Date(), heartbeatAt: new Date() } });
    expect((await put(false)).json().propagation.state).toBe('timeout');
    // A live proxy already past every version.
    await h.app.prisma.proxyInstance.update({ where: { id: 'p-stuck' }, data: { appliedVersion: 1_000_000 } });
    expect((await put(true)).json().propagation.state).toBe('applied');
    await h.app.prisma.proxyInstance.deleteMany({});
    const after = await h.app.metrics.text();
    for (const result of ['no-proxies', 'timeout', 'applied']) expect(sample(after, series(result)), result).toBe((sample(before, series(result)) ?? 0) + 1);
  });
});
