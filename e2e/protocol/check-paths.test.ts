/**
 * Check connection tests every way into a route, each as its own step, against the proxy
 * process and real PostgreSQL 18 servers (one with TLS, one without):
 *  - `dedicated`: the route's dedicated port, where the proxy forwards bytes unread and the
 *    database itself answers the SSLRequest — working for a TLS database; failing, while the
 *    shared listener works, for a terminate-mode route whose database has no TLS (clients
 *    with sslmode=require cannot use that port); failing with the proxy's reason when the
 *    database is down;
 *  - `endpoint`: a terminate-mode PostgreSQL route reached without SNI and with
 *    `options=endpoint=<host name>` (the proxy presents its default certificate).
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '@switchyard/db';
import { createTestDatabase, getFreePort, testCert, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { startTlsPostgres, tempDir, type TlsPostgres } from '../support/upstreams.js';

const KEYS = `e2e:${randomBytes(32).toString('base64')}`;
const host = (db: string) => `${db}.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let tlsPg: TlsPostgres;
let plainPg: RunningPostgres;
let dir: string;
let proxy: ProxyProcess;
let api: ApiServer;
let acme: string;
let deadPort: number;

type Step = { step: string; ok: boolean; optional?: boolean; skipped?: boolean; message: string };
const check = (database: string) => api.call<{ ok: boolean; failedStep: string | null; summary: string; steps: Step[] }>('GET', `/api/v1/tenants/acme/databases/${database}/external-access/check`, undefined, acme);
const stepsOf = (steps: Step[]) => steps.map((s) => `${s.step}:${s.ok}`);

beforeAll(async () => {
  db = await createTestDatabase();
  dir = tempDir('sy-e2e-check-paths-');
  tlsPg = await startTlsPostgres([host('orders')]);
  // PostgreSQL without TLS (ssl = off, the default).
  plainPg = await startEmbeddedPostgres({ dataDir: join(dir, 'plain'), port: await getFreePort(), settings: { fsync: 'off' } });
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const fallback = testCert([`*.acme.${BASE_DOMAIN}`]);
  writeFileSync(join(dir, 'default.crt'), fallback.certPem);
  writeFileSync(join(dir, 'default.key'), fallback.keyPem, { mode: 0o600 });
  const pool = { SWITCHYARD_DEDICATED_PORTS: [await getFreePort(), await getFreePort(), await getFreePort()].join(',') };
  proxy = await startProxyProcess(db.url, {
    ...pool,
    PROXY_DEDICATED_HOST: '127.0.0.1',
    SWITCHYARD_KEYS: KEYS,
    SWITCHYARD_BASE_DOMAIN: BASE_DOMAIN,
    PROXY_DEFAULT_CERT_FILE: join(dir, 'default.crt'),
    PROXY_DEFAULT_KEY_FILE: join(dir, 'default.key'),
    PROXY_CONNECT_TIMEOUT_MS: '2000',
    PROXY_AUDIT_FLUSH_MS: '200',
  });
  api = await startApi(db.url, proxy.ports, { ...pool, SWITCHYARD_KEYS: KEYS });
  acme = await seedTenant(api, 'acme');
  const databases: Array<[string, number, Record<string, unknown>]> = [
    ['orders', tlsPg.port, { enabled: true, tlsMode: 'passthrough', dedicatedPort: true }],
    ['plain', plainPg.port, { enabled: true, tlsMode: 'terminate', upstreamTls: false, dedicatedPort: true }],
    ['gone', deadPort, { enabled: true, tlsMode: 'passthrough', dedicatedPort: true }],
  ];
  for (const [name, port, body] of databases) {
    expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port } }, acme)).status).toBe(201);
    const r = await api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, body, acme);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await tlsPg?.cleanup();
  await plainPg?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('checks the dedicated port as its own step: the database itself answers there', async () => {
  const r = await check('orders');
  expect(r.status).toBe(200);
  expect(stepsOf(r.body.steps), JSON.stringify(r.body.steps)).toEqual(['reach:true', 'tls:true', 'certificate:true', 'upstream:true', 'dedicated:true']);
  expect(r.body.ok).toBe(true);
  const dedicated = r.body.steps.find((s) => s.step === 'dedicated')!;
  expect(dedicated.message).toMatch(/^Dedicated port \d+: the database answered the SSLRequest and completed TLS/);
  expect(dedicated.message).toMatch(/database answered/);
});

it('names the dedicated port when only it fails (a database without TLS), and reaches the route without SNI through the endpoint option', async () => {
  const r = await check('plain');
  expect(stepsOf(r.body.steps), JSON.stringify(r.body.steps)).toEqual(['reach:true', 'tls:true', 'certificate:true', 'upstream:true', 'dedicated:false', 'endpoint:true']);
  expect(r.body).toMatchObject({ ok: false, failedStep: 'dedicated' });
  expect(r.body.summary).toMatch(/dedicated port does not work.*does not accept TLS/);
  const endpoint = r.body.steps.find((s) => s.step === 'endpoint')!;
  expect(endpoint).toMatchObject({ optional: true });
  expect(endpoint.message).toContain(`options=endpoint=${host('plain')}`);
});

it('reports the proxy’s reason on the dedicated port when the database is down', async () => {
  const r = await check('gone');
  expect(r.body).toMatchObject({ ok: false, failedStep: 'upstream' });
  const dedicated = r.body.steps.find((s) => s.step === 'dedicated')!;
  expect(dedicated.ok).toBe(false);
  expect(dedicated.message).toContain(`127.0.0.1:${deadPort}`);
});
