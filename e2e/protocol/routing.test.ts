/**
 * Real psql → Switchyard proxy process → real PostgreSQL 18 servers, configured through the
 * real API: a dedicated port for a client that sends no SNI (`host=127.0.0.1`), and one
 * database with two endpoints balanced round-robin that fails over when one is stopped.
 */
import { createTestDatabase, getFreePort, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { run } from '../support/tools.js';
import { startTlsPostgres, type TlsPostgres } from '../support/upstreams.js';

let db: TestDatabase;
let pgA: TlsPostgres;
let pgB: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;
let dedicated: number;

const psql = (conn: string, sql: string) => run('psql', ['-X', '-A', '-t', '-c', sql, conn], { env: { PGPASSWORD: 'postgres' } });

beforeAll(async () => {
  db = await createTestDatabase();
  [pgA, pgB] = await Promise.all([startTlsPostgres(['a.internal']), startTlsPostgres(['b.internal'])]);
  dedicated = await getFreePort();
  const pool = { SWITCHYARD_DEDICATED_PORTS: String(dedicated) };
  proxy = await startProxyProcess(db.url, { ...pool, PROXY_DEDICATED_HOST: '127.0.0.1' });
  api = await startApi(db.url, proxy.ports, { ...pool, SWITCHYARD_PUBLIC_ADDRESS: '127.0.0.1' });
  token = await seedTenant(api);
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  // pgB was stopped by a test; stopping it again is harmless but may reject.
  await Promise.all([pgA?.cleanup(), pgB?.cleanup().catch(() => {})]);
  await db?.drop();
});

describe('dedicated port', () => {
  it('lets psql connect by IP address, without SNI, through the route’s own port', async () => {
    const c = await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'legacy', engine: 'postgres', upstream: { host: '127.0.0.1', port: pgA.port } }, token);
    expect(c.status).toBe(201);
    const r = await api.call('PUT', '/api/v1/tenants/acme/databases/legacy/external-access?wait=true', { enabled: true, dedicatedPort: true }, token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ dedicatedPort: dedicated, propagation: { state: 'applied' } });
    const line: string = r.body.connection.dedicated;
    expect(line).toBe(`psql "host=127.0.0.1 port=${dedicated} dbname=DBNAME user=USER sslmode=require"`);
    const conn = line.match(/"(.*)"/)![1]!.replace('DBNAME', 'postgres').replace('USER', 'postgres');
    // The proxy binds the port once it applied the change; the API waited for that.
    const out = await psql(conn, "select 'tls:' || ssl::text from pg_stat_ssl where pid = pg_backend_pid()");
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('tls:true');
    // Verification against the database's own CA still works end to end (passthrough).
    const verified = await psql(`host=127.0.0.1 port=${dedicated} user=postgres dbname=postgres sslmode=verify-ca sslrootcert=${pgA.caFile}`, 'select 7');
    expect(verified.stdout.trim()).toBe('7');
  });
});

describe('two endpoints', () => {
  const port = async () => {
    const out = await psql(`host=ha.acme.db.example.test hostaddr=127.0.0.1 port=${proxy.ports.postgres} user=postgres dbname=postgres sslmode=require`, 'select inet_server_port()');
    expect(out.stderr).toBe('');
    return Number(out.stdout.trim());
  };

  it('balances round-robin across two real PostgreSQL servers and fails over when one stops', async () => {
    const endpoints = [
      { host: '127.0.0.1', port: pgA.port },
      { host: '127.0.0.1', port: pgB.port },
    ];
    expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'ha', engine: 'postgres', endpoints }, token)).status).toBe(201);
    const r = await api.call('PUT', '/api/v1/tenants/acme/databases/ha/external-access?wait=true', { enabled: true }, token);
    expect(r.body.propagation.state).toBe('applied');
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) seen.push(await port());
    expect(seen.filter((p) => p === pgA.port)).toHaveLength(2);
    expect(seen.filter((p) => p === pgB.port)).toHaveLength(2);
    await pgB.stop();
    for (let i = 0; i < 4; i++) expect(await port()).toBe(pgA.port);
  });
});
