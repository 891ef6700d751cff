/**
 * Lifecycle with real psql sessions through the real proxy process: disabling a route with
 * `drain` (open sessions stay) and `close` (open sessions end), the tenant-wide connection
 * cap set through the API, and SIGTERM (readiness off first, stop accepting, drain up to a
 * deadline, flush connection events, exit 0).
 */
import { once } from 'node:events';
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, psqlSession, run } from '../support/tools.js';
import { startTlsPostgres, type TlsPostgres } from '../support/upstreams.js';

const names = ['drainer', 'closer', 'orders'] as const;
const host = (name: string) => `${name}.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let sql: pg.Pool;
let upstream: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;

const access = (database: string, body: unknown) => api.call('PUT', `/api/v1/tenants/acme/databases/${database}/external-access?wait=true`, body, token);
const conn = (name: string, port = proxy.ports.postgres, extra: Record<string, string> = {}) =>
  libpq(host(name), port, { sslmode: 'verify-full', sslrootcert: upstream.caFile, ...extra });
const psql = (c: string, q: string) => run('psql', ['-X', '-A', '-t', '-c', q, c], { env: { PGPASSWORD: 'postgres' } });

/** Resolves once the process has printed `text` (its logs are the event stream here). */
function printed(p: ProxyProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!p.output().includes(text)) return;
      p.child.stdout!.off('data', check);
      resolve();
    };
    p.child.stdout!.on('data', check);
    p.child.once('exit', () => (p.output().includes(text) ? resolve() : reject(new Error(`exited without printing "${text}":\n${p.output()}`))));
    check();
  });
}

/** Waits until the proxy serves the control database's current config version. */
async function caughtUp(p: ProxyProcess): Promise<void> {
  const target = Number((await sql.query<{ v: string }>('SELECT version::text AS v FROM config_state WHERE id = 1')).rows[0]!.v);
  const deadline = Date.now() + 10_000;
  while (((await p.version()) ?? 0) < target) {
    if (Date.now() > deadline) throw new Error(`proxy did not reach version ${target}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Connection events this proxy wrote, newest last. */
async function events(proxyId: string, sni: string): Promise<Array<{ outcome: string; reason: string }>> {
  const r = await sql.query<{ outcome: string; reason: string }>(
    'SELECT outcome, reason FROM connection_events WHERE proxy_id = $1 AND sni = $2 ORDER BY ended_at',
    [proxyId, sni],
  );
  return r.rows;
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  upstream = await startTlsPostgres(names.map(host));
  proxy = await startProxyProcess(db.url, { PROXY_AUDIT_FLUSH_MS: '100' });
  api = await startApi(db.url, proxy.ports);
  token = await seedTenant(api);
  for (const name of names) {
    const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: upstream.port } }, token);
    expect(r.status).toBe(201);
  }
  for (const [name, disableBehavior] of [['drainer', 'drain'], ['closer', 'close'], ['orders', 'drain']] as const) {
    const r = await access(name, { enabled: true, disableBehavior });
    expect(r.body.propagation.state).toBe('applied');
  }
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await upstream?.cleanup();
  await sql?.end();
  await db?.drop();
});

describe('disabling a route', () => {
  it('drain: the open psql session keeps working; new sessions are refused', async () => {
    const s = psqlSession(conn('drainer'));
    expect(await s.query('select 1')).toBe('1');
    expect((await access('drainer', { enabled: false })).body.propagation.state).toBe('applied');
    const fresh = await psql(conn('drainer'), 'select 1');
    expect(fresh.code).not.toBe(0);
    expect(fresh.stderr).toMatch(/unrecognized name/);
    expect(await s.query('select 2')).toBe('2');
    expect(await s.query("select 'still ' || current_user")).toBe('still postgres');
    expect((await s.quit()).code).toBe(0);
  });

  it('close: the open psql session is ended by the proxy, and the event says why', async () => {
    const s = psqlSession(conn('closer'));
    expect(await s.query('select 1')).toBe('1');
    expect((await access('closer', { enabled: false })).body.propagation.state).toBe('applied');
    // psql learns of the closed socket when it next uses it.
    await expect(s.query('select 2')).rejects.toThrow(/psql exited/);
    const r = await s.exited;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/connection to server was lost|server closed the connection unexpectedly|SSL SYSCALL error|unexpected eof/i);
    const deadline = Date.now() + 10_000;
    let rows = await events(`e2e-${proxy.adminPort}`, host('closer'));
    while (!rows.some((e) => e.reason === 'route_disabled_closed') && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
      rows = await events(`e2e-${proxy.adminPort}`, host('closer'));
    }
    expect(rows).toContainEqual({ outcome: 'ok', reason: 'route_disabled_closed' });
  });
});

describe('tenant connection cap (set through the API)', () => {
  it('refuses sessions beyond the cap with a PostgreSQL error naming the limit', async () => {
    const patch = await api.call('PATCH', '/api/v1/tenants/acme', { maxConnections: 1 });
    expect(patch.status).toBe(200);
    await caughtUp(proxy);
    const s = psqlSession(conn('orders'));
    expect(await s.query('select 1')).toBe('1');
    const strict = await psql(conn('orders', proxy.ports.postgres, { sslmode: 'require' }), 'select 1');
    expect(strict.code).not.toBe(0);
    // libpq's default sslmode=prefer retries in plaintext; that retry carries the explanation.
    const prefer = await psql(libpq(host('orders'), proxy.ports.postgres), 'select 1');
    expect(prefer.code).not.toBe(0);
    expect(prefer.stderr).toContain("too many connections to this tenant's databases");
    expect(prefer.stderr).toContain('HINT:');
    expect((await s.quit()).code).toBe(0);
    expect((await api.call('PATCH', '/api/v1/tenants/acme', { maxConnections: null })).status).toBe(200);
    await caughtUp(proxy);
    expect((await psql(conn('orders'), 'select 7')).stdout.trim()).toBe('7');
  });
});

// The same shutdown in a single process and in cluster mode (the primary orders its workers).
describe.each(['1', '2'])('SIGTERM (PROXY_WORKERS=%s)', (workers) => {
  it('turns readiness off first, stops accepting, lets open sessions finish, flushes events, exits 0', async () => {
    // Events are flushed every minute here: what reaches the database came from the shutdown flush.
    const p = await startProxyProcess(db.url, { PROXY_DRAIN_TIMEOUT_MS: '60000', PROXY_AUDIT_FLUSH_MS: '60000', PROXY_WORKERS: workers });
    await caughtUp(p);
    const proxyId = `e2e-${p.adminPort}`;
    const s = psqlSession(conn('orders', p.ports.postgres));
    expect(await s.query('select 1')).toBe('1');
    expect((await fetch(`http://127.0.0.1:${p.adminPort}/readyz`)).status).toBe(200);

    const exit = once(p.child, 'exit') as Promise<[number | null, string | null]>;
    p.child.kill('SIGTERM');
    await printed(p, 'readiness off');
    expect((await fetch(`http://127.0.0.1:${p.adminPort}/readyz`)).status).toBe(503);
    await printed(p, 'listeners closed');
    const refused = await psql(conn('orders', p.ports.postgres), 'select 1');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Connection refused/i);
    // The open session is untouched until it ends.
    expect(await s.query('select 2')).toBe('2');
    expect(await events(proxyId, host('orders'))).toEqual([]);
    expect((await s.quit()).code).toBe(0);
    const [code] = await exit;
    expect(code).toBe(0);
    // psql ends with Terminate and closes: a normal end (docs/proxy.md "Close reasons"). In
    // passthrough the database's FIN can reach the proxy first.
    const flushed = await events(proxyId, host('orders'));
    expect(flushed).toHaveLength(1);
    expect(flushed[0]!.outcome).toBe('ok');
    expect(['client_closed', 'upstream_closed']).toContain(flushed[0]!.reason);
    expect(p.output()).toMatch(/"eventsWritten":1,"eventsDropped":0[^\n]*proxy stopped/);
    const inst = await sql.query('SELECT 1 FROM proxy_instances WHERE id = $1', [proxyId]);
    expect(inst.rowCount).toBe(0);
  });

  it('closes sessions still open at the drain deadline, records why, and exits 0', async () => {
    const p = await startProxyProcess(db.url, { PROXY_DRAIN_TIMEOUT_MS: '1500', PROXY_AUDIT_FLUSH_MS: '60000', PROXY_WORKERS: workers });
    await caughtUp(p);
    const proxyId = `e2e-${p.adminPort}`;
    const s = psqlSession(conn('orders', p.ports.postgres));
    expect(await s.query('select 1')).toBe('1');
    const started = Date.now();
    const exit = once(p.child, 'exit') as Promise<[number | null, string | null]>;
    p.child.kill('SIGTERM');
    const [code] = await exit;
    expect(code, p.output()).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(p.output()).toContain('drain deadline reached');
    await expect(s.query('select 2')).rejects.toThrow(/psql exited/);
    expect(await events(proxyId, host('orders'))).toEqual([{ outcome: 'ok', reason: 'proxy_shutdown' }]);
  });
});
