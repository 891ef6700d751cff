/**
 * Real psql → Switchyard proxy (postgres listener, passthrough) → real PostgreSQL 18 with TLS,
 * with access toggled through the real API.
 */
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import { parse } from 'pg-connection-string';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, run, start } from '../support/tools.js';
import { startTlsPostgres, type TlsPostgres } from '../support/upstreams.js';

const host = `orders.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let upstream: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;

const access = (database: string, body: unknown) => api.call('PUT', `/api/v1/tenants/acme/databases/${database}/external-access?wait=true`, body, token);
const psql = (conn: string, sql: string) => run('psql', ['-X', '-A', '-t', '-c', sql, conn], { env: { PGPASSWORD: 'postgres' } });

beforeAll(async () => {
  db = await createTestDatabase();
  upstream = await startTlsPostgres([host, `other.acme.${BASE_DOMAIN}`]);
  proxy = await startProxyProcess(db.url);
  api = await startApi(db.url, proxy.ports);
  token = await seedTenant(api);
  for (const name of ['orders', 'other']) {
    const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: upstream.port } }, token);
    expect(r.status).toBe(201);
  }
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await upstream?.cleanup();
  await db?.drop();
});

describe('psql through the postgres listener (passthrough)', () => {
  it('connects after access is enabled through the API, verifying the server end to end', async () => {
    const r = await access('orders', { enabled: true, tlsMode: 'passthrough' });
    expect(r.status).toBe(200);
    expect(r.body.propagation.state).toBe('applied');
    for (const sslmode of ['require', 'verify-ca', 'verify-full']) {
      const out = await psql(libpq(host, proxy.ports.postgres, { sslmode, sslrootcert: upstream.caFile }), "select 'ok:' || ssl::text from pg_stat_ssl where pid = pg_backend_pid()");
      expect(out.stderr, sslmode).toBe('');
      expect(out.stdout.trim(), sslmode).toBe('ok:true');
    }
  });

  it('works with the connection string the API returned', async () => {
    const r = await api.call('GET', '/api/v1/tenants/acme/databases/orders/external-access', undefined, token);
    const psqlLine: string = r.body.connection.psql;
    expect(psqlLine).toContain(`host=${host}`);
    expect(psqlLine).toContain('sslmode=verify-full sslrootcert=DATABASE_CA.pem');
    // Passthrough: the database's own CA verifies the server end to end.
    const conn = psqlLine.match(/"(.*)"/)![1]!.replace('DBNAME', 'postgres').replace('USER', 'postgres').replace('DATABASE_CA.pem', upstream.caFile);
    const out = await psql(`${conn} hostaddr=127.0.0.1`, 'select 42');
    expect(out.stdout.trim()).toBe('42');
  });

  it('on the tls listener, the API’s connection string starts TLS directly, and node-postgres connects with it', async () => {
    // A tls listener reads a ClientHello first: a client that sends an SSLRequest cannot be
    // routed there, so the strings must say sslnegotiation=direct.
    const r = await access('other', { enabled: true, tlsMode: 'passthrough', listener: 'tls' });
    expect(r.status).toBe(200);
    expect(r.body.port).toBe(proxy.ports.tls);
    const uri: string = r.body.connection.uri;
    expect(uri).toContain('&sslnegotiation=direct');
    expect(r.body.connection.psql).toContain(' sslnegotiation=direct"');
    const other = `other.acme.${BASE_DOMAIN}`;
    const config = parse(uri.replace('USER', 'postgres').replace('DBNAME', 'postgres').replace('DATABASE_CA.pem', upstream.caFile)) as pg.ClientConfig & { ssl: object };
    // No DNS here: dial the proxy's address, keep the name for SNI and verification.
    const client = new pg.Client({ ...config, host: '127.0.0.1', password: 'postgres', ssl: { ...config.ssl, servername: other } });
    await client.connect();
    try {
      const q = await client.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      expect(q.rows[0]!.ssl).toBe(true);
    } finally {
      await client.end();
    }
    // Without direct TLS (an SSLRequest first) the tls listener cannot route the client.
    const plain = new pg.Client({ ...config, sslnegotiation: 'postgres', host: '127.0.0.1', password: 'postgres', ssl: { ...config.ssl, servername: other } });
    plain.on('error', () => {});
    await expect(plain.connect()).rejects.toThrow();
    expect((await access('other', { enabled: false })).status).toBe(200);
  });

  // Before any TLS attempt of this address is refused: for 3 seconds after a refusal that was
  // not retried (sslmode=require), a plaintext client from the same address is told about it.
  it('tells a client without TLS how to connect', async () => {
    const out = await psql(libpq(host, proxy.ports.postgres, { sslmode: 'disable' }), 'select 1');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('requires TLS with SNI');
    expect(out.stderr).toContain('HINT:');
  });

  it('refuses a new psql after access is disabled, with a readable message', async () => {
    const r = await access('orders', { enabled: false });
    expect(r.body.propagation.state).toBe('applied');
    const strict = await psql(libpq(host, proxy.ports.postgres, { sslmode: 'require' }), 'select 1');
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toMatch(/unrecognized name/);
    // libpq's default sslmode=prefer retries in plaintext; that retry explains the refusal.
    const prefer = await psql(libpq(host, proxy.ports.postgres), 'select 1');
    expect(prefer.code).not.toBe(0);
    expect(prefer.stderr).toContain('external access to this database is disabled');
    expect(prefer.stderr).toContain(host);
  });

  it('keeps a running pg_sleep session alive through 100 enable/disable cycles of another route', async () => {
    await access('orders', { enabled: true });
    // The session's query outlasts the cycles by far (however slow a loaded machine makes
    // them); afterwards it is cancelled from another connection, and the cancellation reaching
    // psql proves the proxied session was still connected end to end.
    const session = start('psql', ['-X', '-A', '-t', '-c', "select pg_sleep(300), 'survived'", libpq(host, proxy.ports.postgres, { sslmode: 'require' })], {
      PGPASSWORD: 'postgres',
    });
    // Prove the session is established and inside its query before churning.
    const probe = async () => (await psql(libpq(host, proxy.ports.postgres, { sslmode: 'require' }), "select count(*) from pg_stat_activity where query like 'select pg_sleep(300)%'")).stdout.trim();
    while ((await probe()) !== '1') {
      expect(session.child.exitCode).toBeNull();
    }
    for (let i = 0; i < 100; i++) {
      const on = await access('other', { enabled: true });
      expect(on.status).toBe(200);
      const off = await access('other', { enabled: false });
      expect(off.body.propagation.state).toBe('applied');
    }
    expect(session.child.exitCode, 'the session must still be running after the cycles').toBeNull();
    const cancel = await psql(
      libpq(host, proxy.ports.postgres, { sslmode: 'require' }),
      "select count(pg_cancel_backend(pid)) from pg_stat_activity where query like 'select pg_sleep(300)%'",
    );
    expect(cancel.stdout.trim()).toBe('1');
    const result = await session.done;
    expect(result.stderr).toContain('canceling statement due to user request');
  });
});
