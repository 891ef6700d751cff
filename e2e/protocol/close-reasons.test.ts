/**
 * Close reasons are true (docs/audit.md "Close reasons"): real clients that end normally are
 * recorded with a normal end — never `client_error` / `upstream_error` — and an error is
 * recorded only when one happened. pgbench -C used to leave ~3 % of clean sessions marked as
 * errors: TCP resets at the end of a TLS session (a socket closed with the peer's
 * close_notify unread) were counted as failures.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, psqlSession, run } from '../support/tools.js';
import { startTlsPostgres, startTlsRedis, tempDir, type TlsPostgres, type TlsRedis } from '../support/upstreams.js';

const KEYS = `e2e:${randomBytes(32).toString('base64')}`;
const host = (name: string) => `${name}.acme.${BASE_DOMAIN}`;
const NORMAL = ['client_closed', 'upstream_closed'];
let db: TestDatabase;
let sql: pg.Pool;
let upstream: TlsPostgres;
let redis: TlsRedis;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;
let platformCa: string;
let script: string;

/** The proxy's connection events for a host name once `count` of them are written. */
async function eventsFor(name: string, count: number): Promise<Array<{ outcome: string; reason: string; bytes_in: string; bytes_out: string }>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await sql.query('SELECT outcome, reason, bytes_in::text, bytes_out::text FROM connection_events WHERE sni = $1 ORDER BY ended_at', [host(name)]);
    if (r.rows.length >= count || Date.now() > deadline) return r.rows;
    await new Promise((res) => setTimeout(res, 50));
  }
}

function tally(rows: Array<{ reason: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.reason] = (out[r.reason] ?? 0) + 1;
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const names = ['pass', 'term', 'psql', 'nodepg', 'killed', 'garbage'];
  upstream = await startTlsPostgres(names.map(host));
  redis = await startTlsRedis([host('cache')]);
  proxy = await startProxyProcess(db.url, { PROXY_AUDIT_FLUSH_MS: '100', SWITCHYARD_KEYS: KEYS });
  api = await startApi(db.url, proxy.ports, { SWITCHYARD_KEYS: KEYS });
  token = await seedTenant(api);
  const modes: Record<string, string> = { pass: 'passthrough', term: 'terminate', psql: 'passthrough', nodepg: 'terminate', killed: 'passthrough', garbage: 'terminate' };
  for (const name of names) {
    expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: upstream.port } }, token)).status).toBe(201);
    const r = await api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, { enabled: true, tlsMode: modes[name] }, token);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'cache', engine: 'redis', upstream: { host: '127.0.0.1', port: redis.port } }, token)).status).toBe(201);
  expect((await api.call('PUT', '/api/v1/tenants/acme/databases/cache/external-access?wait=true', { enabled: true, tlsMode: 'passthrough' }, token)).status).toBe(200);
  const dir = tempDir('sy-e2e-close-');
  platformCa = join(dir, 'platform-ca.pem');
  writeFileSync(platformCa, await (await fetch(`${api.url}/api/v1/pki/ca.pem`)).text());
  script = join(dir, 'select1.sql');
  writeFileSync(script, 'select 1;\n');
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await sql?.end();
  await upstream?.stop();
  await redis?.stop();
  await db?.drop();
});

describe('clients that end normally are recorded with a normal end', () => {
  it.each([
    ['passthrough', 'pass', {}],
    ['terminate', 'term', { channel_binding: 'disable' }],
  ] as const)('pgbench -C, %s: every session is a normal end', async (_mode, name, extra) => {
    const r = await run('pgbench', ['-n', '-C', '-c', '3', '-t', '100', '-f', script, libpq(host(name), proxy.ports.postgres, { sslmode: 'require', ...extra })], {
      env: { PGPASSWORD: 'postgres' },
      timeoutMs: 110_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('number of failed transactions: 0');
    // 300 transactions, each on its own connection, and pgbench's own setup connection.
    const rows = await eventsFor(name, 301);
    expect(rows).toHaveLength(301);
    expect(rows.every((e) => e.outcome === 'ok'), JSON.stringify(tally(rows))).toBe(true);
    expect(rows.filter((e) => !NORMAL.includes(e.reason)), JSON.stringify(tally(rows))).toEqual([]);
    // In terminate mode the proxy reads the client's Terminate: the client ended every one.
    if (name === 'term') expect(tally(rows)).toEqual({ client_closed: 301 });
  });

  it('psql quitting (passthrough): a normal end, whichever FIN came first', async () => {
    const s = psqlSession(libpq(host('psql'), proxy.ports.postgres, { sslmode: 'require' }));
    expect(await s.query('select 41 + 1')).toBe('42');
    expect((await s.quit()).code).toBe(0);
    const [e] = await eventsFor('psql', 1);
    expect(e).toMatchObject({ outcome: 'ok' });
    expect(NORMAL).toContain(e!.reason);
  });

  it('node-postgres client.end() through terminate mode: client_closed', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres, user: 'postgres', password: 'postgres', database: 'postgres', ssl: { servername: host('nodepg'), ca: readFileSync(platformCa, 'utf8'), rejectUnauthorized: true }, enableChannelBinding: false });
    await c.connect();
    expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
    await c.end();
    const [e] = await eventsFor('nodepg', 1);
    expect(e).toMatchObject({ outcome: 'ok', reason: 'client_closed' });
  });

  it('redis-cli, 20 commands each in its own connection: all normal ends', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cache'), '--cacert', redis.caFile, 'PING']);
      expect(r.stdout.trim()).toBe('PONG');
    }
    const rows = await eventsFor('cache', 20);
    expect(rows).toHaveLength(20);
    expect(rows.filter((e) => e.outcome !== 'ok' || !NORMAL.includes(e.reason)), JSON.stringify(tally(rows))).toEqual([]);
  });
});

describe('sessions that end abnormally say who ended them', () => {
  it('the database ends the session (pg_terminate_backend): upstream_closed', async () => {
    const s = psqlSession(libpq(host('killed'), proxy.ports.postgres, { sslmode: 'require' }));
    const pid = await s.query('select pg_backend_pid()');
    const admin = new pg.Client({ host: '127.0.0.1', port: upstream.port, user: 'postgres', password: 'postgres', database: 'postgres', ssl: { rejectUnauthorized: false } });
    await admin.connect();
    // With a timeout (PostgreSQL 14+) the call returns once the backend has exited, i.e. after
    // its FIN was sent; without one it returns when the signal is sent, and a psql quitting
    // before the backend is gone really is the client ending first.
    const { rows } = await admin.query<{ gone: boolean }>('select pg_terminate_backend($1, 10000) as gone', [Number(pid)]);
    expect(rows[0]!.gone).toBe(true);
    await admin.end();
    // psql notices only when it next reads; the proxy has passed the database's FIN on and
    // holds the client's half until psql closes it.
    await s.quit();
    const [e] = await eventsFor('killed', 1);
    expect(e).toMatchObject({ outcome: 'ok', reason: 'upstream_closed' });
  });

  it('a client that breaks its TLS session mid-stream (terminate mode): client_error', async () => {
    // The TCP socket under pg's TLS layer, so the test can write bytes that are not TLS.
    let under!: Socket;
    const c = new pg.Client({
      host: '127.0.0.1', port: proxy.ports.postgres, user: 'postgres', password: 'postgres', database: 'postgres',
      ssl: { servername: host('garbage'), ca: readFileSync(platformCa, 'utf8') }, enableChannelBinding: false,
      stream: () => (under = new Socket()),
    });
    await c.connect();
    expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
    c.on('error', () => {});
    await new Promise<void>((r, j) => under.write(Buffer.from('definitely not a TLS record, just bytes on the wire'), (e) => (e ? j(e) : r())));
    const [e] = await eventsFor('garbage', 1);
    expect(e).toMatchObject({ outcome: 'ok', reason: 'client_error' });
    await c.end().catch(() => {});
  });
});
