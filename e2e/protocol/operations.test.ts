/**
 * Connection operations end to end, against the proxy process in cluster mode (two workers)
 * and a real PostgreSQL 18 with TLS:
 *  - Check connection through the API: every step for a working passthrough route and a
 *    terminate-mode route (the certificate verifies with the platform CA the connect panel
 *    offers); the failing step, in words, for a route whose database is down and for a
 *    disabled route;
 *  - a real psql session shows up in the live list while it is open (its tenant and platform
 *    admins; not another tenant), a platform token terminates it (the order travels NOTIFY →
 *    primary → the worker holding it), psql reports the connection closed, and the event
 *    names who ended it; another tenant's admin can neither see nor terminate it;
 *  - an admin finds a connection refused for an unknown host name.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createTestDatabase, testCa, until, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { expectPsqlDisconnected, libpq, psqlSession } from '../support/tools.js';
import { startTlsPostgres, type TlsPostgres } from '../support/upstreams.js';

const KEYS = `e2e:${randomBytes(32).toString('base64')}`;
const host = (db: string) => `${db}.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let postgres: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let acme: string;
let beta: string;
let opsToken: string;
/** A port nothing listens on: the "database is down" route. */
let deadPort: number;

const access = (database: string, body: unknown) => api.call('PUT', `/api/v1/tenants/acme/databases/${database}/external-access?wait=true`, body, acme);
const check = (database: string, token = acme) => api.call('GET', `/api/v1/tenants/acme/databases/${database}/external-access/check`, undefined, token);

beforeAll(async () => {
  db = await createTestDatabase();
  postgres = await startTlsPostgres([host('orders')]);
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  proxy = await startProxyProcess(db.url, { SWITCHYARD_KEYS: KEYS, PROXY_WORKERS: '2', PROXY_AUDIT_FLUSH_MS: '200' });
  api = await startApi(db.url, proxy.ports, { SWITCHYARD_KEYS: KEYS });
  acme = await seedTenant(api, 'acme');
  beta = await seedTenant(api, 'beta');
  const ops = await api.call<{ token: string }>('POST', '/api/v1/platform/tokens', { name: 'ops-admin' });
  expect(ops.status).toBe(201);
  opsToken = ops.body.token;
  const databases: Array<[string, number]> = [
    ['orders', postgres.port],
    ['secure', postgres.port],
    ['gone', deadPort],
    ['closed', postgres.port],
  ];
  for (const [name, port] of databases) {
    const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port } }, acme);
    expect(r.status).toBe(201);
  }
  for (const [name, body] of [
    ['orders', { enabled: true, tlsMode: 'passthrough' }],
    ['secure', { enabled: true, tlsMode: 'terminate', upstreamTls: true, upstreamCa: testCa().certPem }],
    ['gone', { enabled: true, tlsMode: 'passthrough' }],
    ['closed', { enabled: false, tlsMode: 'passthrough' }],
  ] as const) {
    const r = await access(name, body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await postgres?.cleanup();
  await db?.drop();
});

describe('check connection', () => {
  it('reports every step for a working passthrough route', async () => {
    const r = await check('orders');
    expect(r.status).toBe(200);
    expect(r.body.ok, JSON.stringify(r.body.steps)).toBe(true);
    expect(r.body.steps.map((s: { step: string; ok: boolean }) => `${s.step}:${s.ok}`)).toEqual(['reach:true', 'tls:true', 'certificate:true', 'upstream:true']);
    expect(r.body.certificate.subjectAltNames).toContain(host('orders'));
    // The database answered the placeholder StartupMessage itself.
    expect(r.body.steps[3].message).toMatch(/The database answered/);
    for (const s of r.body.steps) expect(s.ms).toBeGreaterThanOrEqual(0);
  });

  it('verifies a terminate-mode certificate with the CA the connect panel offers', async () => {
    const r = await check('secure');
    expect(r.body.ok, JSON.stringify(r.body.steps)).toBe(true);
    expect(r.body.certificate.issuer).toMatch(/Switchyard/i);
    expect(r.body.steps[2].message).toContain('verifies with the platform CA');
  });

  it('names the upstream step when the database is down', async () => {
    const r = await check('gone');
    expect(r.body).toMatchObject({ ok: false, failedStep: 'upstream', proxyReason: 'upstream_unreachable' });
    expect(r.body.steps[0].ok).toBe(true);
    expect(r.body.summary).toContain(`127.0.0.1:${deadPort}`);
  });

  it('names the TLS step for a disabled route', async () => {
    const r = await check('closed');
    expect(r.body).toMatchObject({ ok: false, failedStep: 'tls', proxyReason: 'route_disabled' });
    expect(r.body.summary).toMatch(/disabled/);
    expect((await check('orders', beta)).status).toBe(404);
  });
});

describe('live connections and terminate', () => {
  it('shows a psql session while it is open and lets an admin terminate it, naming who did', async () => {
    const session = psqlSession(libpq(host('orders'), proxy.ports.postgres, { sslmode: 'require', application_name: 'ops-e2e' }));
    expect(await session.query('select 41 + 1')).toBe('42');
    const live = await until(
      () => api.call('GET', '/api/v1/tenants/acme/connections/live', undefined, acme),
      (r) => r.body.items.some((c: { sni: string }) => c.sni === host('orders')),
      'the session in the live list',
    );
    const conn = live.body.items.find((c: { sni: string }) => c.sni === host('orders'));
    expect(conn).toMatchObject({ tenant: 'acme', database: 'orders', listener: 'postgres', mode: 'passthrough' });
    expect(conn.bytesIn).toBeGreaterThan(0);
    // Platform admins see it across tenants; another tenant sees none of it.
    const all = await api.call('GET', '/api/v1/connections/live', undefined, opsToken);
    expect(all.body.items.map((c: { id: string }) => c.id)).toContain(conn.id);
    expect((await api.call('GET', '/api/v1/tenants/beta/connections/live', undefined, beta)).body.items).toEqual([]);
    expect((await api.call('GET', '/api/v1/tenants/acme/connections/live', undefined, beta)).status).toBe(404);
    expect((await api.call('GET', '/api/v1/connections/live', undefined, beta)).status).toBe(403);
    const path = `/api/v1/proxies/${encodeURIComponent(conn.proxyId)}/connections/${conn.id}`;
    expect((await api.call('DELETE', path, undefined, beta)).status).toBe(404);
    expect(await session.query('select 1')).toBe('1');

    const t = await api.call('DELETE', path, undefined, opsToken);
    expect(t.status).toBe(202);
    expect(t.body).toMatchObject({ tenant: 'acme', endedBy: 'token:ops-admin' });
    // The order is asynchronous (202 once committed): wait for the proxy to report the
    // connection gone, then psql learns at its next statement that the server closed it.
    await until(
      () => api.call('GET', '/api/v1/tenants/acme/connections/live', undefined, acme),
      (r) => !r.body.items.some((c: { id: string }) => c.id === conn.id),
      'the session to leave the live list',
    );
    await expectPsqlDisconnected(session, 'select 2');

    const ev = await until(
      () => api.call('GET', `/api/v1/tenants/acme/connection-events?reason=terminated`, undefined, acme),
      (r) => r.body.items.length > 0,
      'the terminated event',
    );
    expect(ev.body.items[0]).toMatchObject({ connectionId: conn.id, proxyId: conn.proxyId, endedBy: 'token:ops-admin', outcome: 'ok', database: 'orders' });
    const audit = await api.call('GET', '/api/v1/tenants/acme/audit-events?action=connection.terminate', undefined, acme);
    expect(audit.body.items[0]).toMatchObject({ targetType: 'connection', targetId: `${conn.proxyId}/${conn.id}` });
  });

  it('lets an admin find a connection refused for an unknown host name', async () => {
    const s = tlsConnect({ host: '127.0.0.1', port: proxy.ports.tls, servername: 'nobody.example.net', rejectUnauthorized: false });
    await new Promise<void>((resolve) => {
      s.once('error', () => resolve());
      s.once('close', () => resolve());
    });
    const r = await until(
      () => api.call('GET', '/api/v1/connection-events?sni=nobody.example.net', undefined, opsToken),
      (x) => x.body.items.length > 0,
      'the refused connection',
    );
    expect(r.body.items[0]).toMatchObject({ tenant: null, outcome: 'rejected', reason: 'unknown_host' });
    const proxies = await api.call('GET', '/api/v1/proxies', undefined, opsToken);
    expect(proxies.body.items[0]).toMatchObject({ stale: false, workers: 2, lag: 0 });
  });
});
