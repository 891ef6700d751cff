/**
 * Cluster mode (PROXY_WORKERS=2) with real psql sessions through the real proxy process:
 * both workers serve connections, a route change reaches every worker and the heartbeat
 * reports it, a tenant cap holds across workers, a killed worker is restarted (with the
 * current table, its capped slots given back) while the other worker's sessions carry on,
 * and /metrics merges every worker's registry. SIGTERM in cluster mode is in
 * lifecycle.test.ts, next to the single-process case.
 */
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, psqlSession, run } from '../support/tools.js';
import { startTlsPostgres, type TlsPostgres } from '../support/upstreams.js';

const names = ['orders', 'late'] as const;
const host = (name: string) => `${name}.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let sql: pg.Pool;
let upstream: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;

interface WorkerStatus {
  id: number;
  pid: number | null;
  state: string;
  version: number | null;
  open: number;
}
interface Status {
  ready: boolean;
  version: number | null;
  workers: WorkerStatus[];
}

const access = (database: string, body: unknown) => api.call('PUT', `/api/v1/tenants/acme/databases/${database}/external-access?wait=true`, body, token);
const conn = (name: string, extra: Record<string, string> = {}) =>
  libpq(host(name), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: upstream.caFile, ...extra });
const psql = (c: string, q: string) => run('psql', ['-X', '-A', '-t', '-c', q, c], { env: { PGPASSWORD: 'postgres' } });

async function status(): Promise<Status> {
  return (await (await fetch(`http://127.0.0.1:${proxy.adminPort}/readyz`)).json()) as Status;
}

async function metrics(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

/** The value of one series in Prometheus text (`name{labels}` exactly as printed). */
function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : null;
}

/** Polls /readyz (workers report their open connections every second) until `ok`. */
async function until(ok: (s: Status) => boolean, what: string): Promise<Status> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await status().catch(() => null);
    if (s && ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}\n${proxy.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function currentVersion(): Promise<number> {
  return Number((await sql.query<{ v: string }>('SELECT version::text AS v FROM config_state WHERE id = 1')).rows[0]!.v);
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  upstream = await startTlsPostgres(names.map(host));
  proxy = await startProxyProcess(db.url, { PROXY_WORKERS: '2', PROXY_CLUSTER_SCHEDULING: 'rr', PROXY_AUDIT_FLUSH_MS: '100' });
  api = await startApi(db.url, proxy.ports);
  token = await seedTenant(api);
  for (const name of names) {
    const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: upstream.port } }, token);
    expect(r.status).toBe(201);
  }
  expect((await access('orders', { enabled: true })).body.propagation.state).toBe('applied');
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await upstream?.cleanup();
  await sql?.end();
  await db?.drop();
});

describe('cluster mode (PROXY_WORKERS=2)', () => {
  it('runs two workers, and both serve connections', async () => {
    const s = await status();
    expect(s.ready).toBe(true);
    expect(s.workers.map((w) => [w.id, w.state])).toEqual([
      [1, 'listening'],
      [2, 'listening'],
    ]);
    expect(new Set(s.workers.map((w) => w.pid)).size).toBe(2);
    for (let i = 0; i < 4; i++) expect((await psql(conn('orders'), `select ${i}`)).stdout.trim()).toBe(String(i));
    const m = await metrics();
    expect(sample(m, 'switchyard_proxy_worker_connections_total{worker="1"}')).toBeGreaterThanOrEqual(2);
    expect(sample(m, 'switchyard_proxy_worker_connections_total{worker="2"}')).toBeGreaterThanOrEqual(2);
  });

  it('applies a route change in every worker; the heartbeat reports it', async () => {
    const r = await access('late', { enabled: true });
    expect(r.body.propagation.state).toBe('applied');
    const v = await currentVersion();
    const s = await status();
    expect(s.version).toBe(v);
    expect(s.workers.map((w) => w.version)).toEqual([v, v]);
    const row = await sql.query<{ applied: string }>('SELECT applied_version::text AS applied FROM proxy_instances WHERE id = $1', [`e2e-${proxy.adminPort}`]);
    expect(Number(row.rows[0]!.applied)).toBe(v);
    // Consecutive connections alternate between the workers: both route the new name.
    for (let i = 0; i < 4; i++) expect((await psql(conn('late'), 'select 1')).stdout.trim()).toBe('1');
  });

  it('merges /metrics from every worker and the primary', async () => {
    const m = await metrics();
    const w1 = sample(m, 'switchyard_proxy_worker_connections_total{worker="1"}')!;
    const w2 = sample(m, 'switchyard_proxy_worker_connections_total{worker="2"}')!;
    // Counters are summed over the workers: routed connections = what both accepted (all succeeded).
    expect(sample(m, 'switchyard_proxy_connections_routed_total{listener="postgres"}')).toBe(w1 + w2);
    // Gauges with their own aggregator: the lowest version served, the control database seen by the primary.
    expect(sample(m, 'switchyard_proxy_config_version')).toBe(await currentVersion());
    expect(sample(m, 'switchyard_proxy_control_db_up')).toBe(1);
    expect(sample(m, 'switchyard_proxy_workers')).toBe(2);
    expect(m.match(/^# TYPE switchyard_proxy_connections_routed_total counter$/gm)).toHaveLength(1);
  });

  it('holds a tenant cap across workers, refuses the next session with a PostgreSQL error, and frees slots of a killed worker', async () => {
    expect((await api.call('PATCH', '/api/v1/tenants/acme', { maxConnections: 2 })).status).toBe(200);
    const v = await currentVersion();
    await until((s) => s.workers.every((w) => w.version === v), `every worker at version ${v}`);
    const a = psqlSession(conn('orders'));
    expect(await a.query('select 1')).toBe('1');
    const b = psqlSession(conn('orders'));
    expect(await b.query('select 1')).toBe('1');
    // One session per worker: the cap of 2 is counted across both.
    const spread = await until((s) => s.workers.every((w) => w.open === 1), 'one open session on each worker');
    expect(spread.workers.map((w) => w.open)).toEqual([1, 1]);
    for (let i = 0; i < 2; i++) {
      // libpq's default sslmode=prefer retries in plaintext; that retry carries the explanation.
      const refused = await psql(libpq(host('orders'), proxy.ports.postgres), 'select 1');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("too many connections to this tenant's databases");
    }

    // Kill worker 1: its session is lost, the other worker's carries on, the slot comes back.
    const victim = spread.workers.find((w) => w.id === 1)!;
    process.kill(victim.pid!, 'SIGKILL');
    const results = await Promise.allSettled([a.query('select 2'), b.query('select 2')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const survivor = results[0].status === 'fulfilled' ? a : b;
    expect(results.find((r) => r.status === 'fulfilled')).toEqual({ status: 'fulfilled', value: '2' });
    const back = await until((s) => s.workers.every((w) => w.state === 'listening') && s.workers[0]!.pid !== victim.pid, 'worker 1 restarted');
    expect(back.ready).toBe(true);
    expect(proxy.output()).toMatch(/"workerId":1[^\n]*"slotsReleased":1[^\n]*worker exited; restarting it/);
    expect(sample(await metrics(), 'switchyard_proxy_worker_restarts_total')).toBe(1);

    // One slot free again (the dead worker's), then the cap holds again.
    const c = psqlSession(conn('orders'));
    expect(await c.query('select 3')).toBe('3');
    const refused = await psql(libpq(host('orders'), proxy.ports.postgres), 'select 1');
    expect(refused.stderr).toContain("too many connections to this tenant's databases");
    expect(await survivor.query('select 4')).toBe('4');
    expect((await survivor.quit()).code).toBe(0);
    expect((await c.quit()).code).toBe(0);
    expect((await api.call('PATCH', '/api/v1/tenants/acme', { maxConnections: null })).status).toBe(200);
  });

  it('gives a restarted worker the current table, including changes made while it was down', async () => {
    const before = await status();
    const victim = before.workers.find((w) => w.id === 2)!;
    process.kill(victim.pid!, 'SIGKILL');
    await until((s) => s.workers[1]!.pid !== victim.pid || s.workers[1]!.state !== 'listening', 'worker 2 gone');
    // Changed while worker 2 is down (or starting): it must still get this version.
    expect((await access('late', { enabled: false })).body.propagation.state).toBe('applied');
    const v = await currentVersion();
    await until((s) => s.workers.every((w) => w.state === 'listening' && w.version === v), `both workers listening at version ${v}`);
    for (let i = 0; i < 4; i++) {
      const r = await psql(conn('late'), 'select 1');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unrecognized name/);
    }
    for (let i = 0; i < 2; i++) expect((await psql(conn('orders'), 'select 5')).stdout.trim()).toBe('5');
  });

  it('writes every worker’s connection events through the primary under one proxy id', async () => {
    // The four refused connections to the disabled route above went to both workers.
    const count = async () =>
      Number(
        (
          await sql.query<{ n: string }>("SELECT count(*)::text AS n FROM connection_events WHERE proxy_id = $1 AND sni = $2 AND outcome = 'rejected'", [
            `e2e-${proxy.adminPort}`,
            host('late'),
          ])
        ).rows[0]!.n,
      );
    const deadline = Date.now() + 10_000;
    while ((await count()) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await count()).toBe(4);
  });
});
