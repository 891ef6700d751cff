/**
 * Terminate mode end to end: real clients → the proxy process (which presents the route's
 * certificate, issued by the platform CA through the real API) → real upstreams.
 * psql in require / verify-ca / verify-full, node-postgres with ssl.servername,
 * openssl s_client -starttls postgres, redis-cli --tls --sni with a plaintext redis-server,
 * curl --resolve against an HTTPS route; certificate replacement with a session open; a
 * broken certificate on one route leaves the others working.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { recordRouteChange } from '@switchyard/db';
import { createTestDatabase, startTls, testCa, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, run } from '../support/tools.js';
import { startPlainRedis, startTlsPostgres, tempDir, type TlsPostgres } from '../support/upstreams.js';

const KEYS = `e2e:${randomBytes(32).toString('base64')}`;
const pgHost = `orders.acme.${BASE_DOMAIN}`;
const pg2Host = `ledger.acme.${BASE_DOMAIN}`;
const redisHost = `cache.acme.${BASE_DOMAIN}`;
const webHost = `web.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let upstream: TlsPostgres;
let redis: { port: number; stop(): Promise<void> };
let web: Server;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;
let caFile: string;
const certIds: Record<string, string> = {};

const access = (database: string, body: unknown) => api.call('PUT', `/api/v1/tenants/acme/databases/${database}/external-access?wait=true`, body, token);
const psql = (conn: string, sql: string) => run('psql', ['-X', '-A', '-t', '-c', sql, conn], { env: { PGPASSWORD: 'postgres' } });

beforeAll(async () => {
  db = await createTestDatabase();
  upstream = await startTlsPostgres(['127.0.0.1']);
  redis = await startPlainRedis();
  web = createServer((req, res) => res.end(`hello from ${req.headers.host} over http/${req.httpVersion}`));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  proxy = await startProxyProcess(db.url, { SWITCHYARD_KEYS: KEYS });
  api = await startApi(db.url, proxy.ports, { SWITCHYARD_KEYS: KEYS });
  token = await seedTenant(api);
  const dbs: Array<[string, string, number]> = [
    ['orders', 'postgres', upstream.port],
    ['ledger', 'postgres', upstream.port],
    ['cache', 'redis', redis.port],
    ['web', 'tls', (web.address() as AddressInfo).port],
  ];
  for (const [name, engine, port] of dbs) {
    const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine, upstream: { host: '127.0.0.1', port } }, token);
    expect(r.status).toBe(201);
  }
  // Terminate: the platform CA issues each route's certificate. orders reaches PostgreSQL in
  // plaintext (the in-cluster case), ledger over TLS verified against the test CA; Redis and
  // HTTP upstreams in plaintext.
  for (const [name, body] of [
    ['orders', { upstreamTls: false }],
    ['ledger', { upstreamTls: true, upstreamCa: testCa().certPem }],
    ['cache', { upstreamTls: false }],
    ['web', { upstreamTls: false }],
  ] as const) {
    const r = await access(name, { enabled: true, tlsMode: 'terminate', ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.propagation.state).toBe('applied');
    certIds[name] = r.body.certificate.id;
  }
  const dir = tempDir('sy-e2e-terminate-');
  caFile = join(dir, 'switchyard-ca.pem');
  const ca = await fetch(`${api.url}/api/v1/pki/ca.pem`);
  writeFileSync(caFile, await ca.text());
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await upstream?.cleanup();
  await redis?.stop();
  await new Promise<void>((r) => (web ? web.close(() => r()) : r()));
  await db?.drop();
});

describe('PostgreSQL in terminate mode', () => {
  it('psql connects in require, verify-ca and verify-full with the platform CA', async () => {
    for (const sslmode of ['require', 'verify-ca', 'verify-full']) {
      // pg_stat_ssl describes the proxy→database leg: plaintext for this route.
      const out = await psql(libpq(pgHost, proxy.ports.postgres, { sslmode, sslrootcert: caFile }), "select 'ok:' || ssl::text from pg_stat_ssl where pid = pg_backend_pid()");
      expect(out.stderr, sslmode).toBe('');
      expect(out.stdout.trim(), sslmode).toBe('ok:false');
    }
  });

  it('speaks TLS to the database when the route says so (SSLRequest, S, TLS verified against upstreamCa)', async () => {
    // SCRAM channel binding ties authentication to the TLS session the server sees, which a
    // terminating proxy replaces by design: with a TLS upstream, clients disable it.
    const conn = libpq(pg2Host, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile, channel_binding: 'disable' });
    const out = await psql(conn, "select 'ok:' || ssl::text from pg_stat_ssl where pid = pg_backend_pid()");
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('ok:true');
    const bound = await psql(libpq(pg2Host, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile, channel_binding: 'require' }), 'select 1');
    expect(bound.stderr).toMatch(/channel binding/);
  });

  it('verify-full fails against a CA that did not sign the route certificate', async () => {
    const out = await psql(libpq(pgHost, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: upstream.caFile }), 'select 1');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/certificate verify failed/);
  });

  it('works with the psql string the API returned (sslmode=verify-full sslrootcert=<CA file>)', async () => {
    const r = await api.call('GET', '/api/v1/tenants/acme/databases/orders/external-access', undefined, token);
    expect(r.body.ca.url).toBe('/api/v1/pki/ca.pem');
    const line: string = r.body.connection.psql;
    const conn = line.match(/"(.*)"/)![1]!.replace('DBNAME', 'postgres').replace('USER', 'postgres').replace('switchyard-ca.pem', caFile);
    const out = await psql(`${conn} hostaddr=127.0.0.1`, 'select 42');
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('42');
  });

  it('node-postgres with ssl.servername verifies the route certificate', async () => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: proxy.ports.postgres,
      user: 'postgres',
      password: 'postgres',
      database: 'postgres',
      ssl: { servername: pgHost, ca: testCaPem() },
    });
    await client.connect();
    const r = await client.query<{ v: number }>('select 7 as v');
    expect(r.rows[0]!.v).toBe(7);
    await client.end();
  });

  it('openssl s_client -starttls postgres completes TLS and verifies the chain', async () => {
    const out = await run('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.ports.postgres}`, '-starttls', 'postgres', '-servername', pgHost, '-CAfile', caFile, '-verify_return_error', '-verify_hostname', pgHost], {
      input: '',
    });
    const text = out.stdout + out.stderr;
    expect(text).toContain('Verify return code: 0 (ok)');
    expect(text).toMatch(new RegExp(`CN\\s*=\\s*${pgHost.replace(/\./g, '\\.')}`));
    expect(text).toMatch(/TLSv1\.3/);
  });

  it('replaces the certificate with a session open: the session survives, new connections see the new one', async () => {
    const session = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres, user: 'postgres', password: 'postgres', database: 'postgres', ssl: { servername: pgHost, ca: testCaPem() } });
    await session.connect();
    const fingerprint = async () => {
      const tls = await startTls({ port: proxy.ports.postgres, servername: pgHost, postgres: true, ca: testCaPem() });
      const fp = tls.getPeerX509Certificate()!.fingerprint256;
      tls.destroy();
      return fp;
    };
    const before = await fingerprint();
    const r = await api.call('PUT', `/api/v1/tenants/acme/certificates/${certIds.orders}?wait=true`, {}, token);
    expect(r.status).toBe(200);
    expect(r.body.propagation.state).toBe('applied');
    expect(r.body.certificate.fingerprint.replace(/:/g, '')).not.toBe(before.replace(/:/g, ''));
    expect((await session.query<{ v: string }>("select 'still here' as v")).rows[0]!.v).toBe('still here');
    const after = await fingerprint();
    expect(after).not.toBe(before);
    expect(after).toBe(r.body.certificate.fingerprint);
    const out = await psql(libpq(pgHost, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }), 'select 1');
    expect(out.stdout.trim()).toBe('1');
    await session.end();
  });

  it('a broken certificate refuses only its own host name', async () => {
    // Seal the ledger key with a key no proxy has (as after a botched rotation).
    const version = await api.app.prisma.$transaction(async (tx) => {
      await tx.certificate.update({ where: { id: certIds.ledger }, data: { keyCiphertext: 'lost:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AAAA' } });
      const route = await tx.route.findFirstOrThrow({ where: { hostname: pg2Host } });
      return recordRouteChange(tx, { routeId: route.id, hostname: route.hostname, op: 'upsert' });
    });
    await expect.poll(() => proxy.version(), { timeout: 10_000 }).toBeGreaterThanOrEqual(version);
    const broken = await psql(libpq(pg2Host, proxy.ports.postgres, { sslmode: 'require' }), 'select 1');
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/internal error/);
    // libpq's default (prefer) retries in plaintext and is told why.
    const prefer = await psql(libpq(pg2Host, proxy.ports.postgres), 'select 1');
    expect(prefer.stderr).toContain('certificate of this host name cannot be used');
    const fine = await psql(libpq(pgHost, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }), 'select 1');
    expect(fine.stderr).toBe('');
    expect(fine.stdout.trim()).toBe('1');
  });
});

describe('TLS listener in terminate mode', () => {
  it('redis-cli --tls --sni reaches a plaintext redis-server', async () => {
    const out = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', redisHost, '--cacert', caFile, 'PING']);
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('PONG');
    const set = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', redisHost, '--cacert', caFile, 'SET', 'k', 'terminated']);
    expect(set.stdout.trim()).toBe('OK');
    const get = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), 'GET', 'k']);
    expect(get.stdout.trim()).toBe('terminated');
  });

  it('curl --resolve reaches an HTTP upstream over HTTPS with the route certificate', async () => {
    const port = proxy.ports.tls;
    const out = await run('curl', ['-sS', '--resolve', `${webHost}:${port}:127.0.0.1`, '--cacert', caFile, `https://${webHost}:${port}/`]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe(`hello from ${webHost}:${port} over http/1.1`);
  });
});

/** The platform CA that issued the route certificates (downloaded in beforeAll). */
function testCaPem(): string {
  return readFileSync(caFile, 'utf8');
}
