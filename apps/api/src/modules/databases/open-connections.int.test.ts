/**
 * `openConnections` on the database list and detail: the real proxy (its own process) routes
 * a real node-postgres session to PostgreSQL and reports it in its heartbeat; the API counts
 * it for that database only, for its tenant only, and stops counting it once it closes.
 * Reports of a stale proxy, and reports naming another tenant, never count.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..', '..', '..');
const KEYS = `int:${randomBytes(32).toString('base64')}`;
const host = (db: string) => `${db}.acme.db.example.com`;

let h: Harness;
let acme: string;
let beta: string;
let proxy: ChildProcess | null = null;
let proxyOut = '';
let pgPort: number;
let upstreamDb: URL;
let acmeId: string;
let relay: Server;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The proxy as it runs in production, on the harness's control database. */
async function startProxy(listeners: string, adminPort: number): Promise<void> {
  const child = spawn(process.execPath, ['--conditions=switchyard-source', '--import', 'tsx', join(root, 'apps/proxy/src/main.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: h.db.url,
      SWITCHYARD_LISTENERS: listeners,
      SWITCHYARD_KEYS: KEYS,
      PROXY_ADMIN_HOST: '127.0.0.1',
      PROXY_ADMIN_PORT: String(adminPort),
      PROXY_HEARTBEAT_INTERVAL_MS: '1000',
      PROXY_ID: `int-open-${adminPort}`,
      PROXY_WORKERS: '1',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proxy = child;
  child.stdout.on('data', (d: Buffer) => (proxyOut += d.toString()));
  child.stderr.on('data', (d: Buffer) => (proxyOut += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (proxyOut.includes('route table loaded') && proxyOut.includes('"msg":"proxy listening"')) {
        child.stdout.off('data', onData);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`proxy exited (${code}):\n${proxyOut}`)));
  });
}

/** Polls `read` until `done` holds (counts follow heartbeats, written within about a second). */
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const counts = async (token = acme, tenant = 'acme'): Promise<Record<string, number>> => {
  const r = await h.call('GET', `/api/v1/tenants/${tenant}/databases`, undefined, token);
  expect(r.statusCode).toBe(200);
  return Object.fromEntries((r.json().items as Array<{ name: string; openConnections: number }>).map((d) => [d.name, d.openConnections]));
};
const countOf = async (name: string) => (await h.call('GET', `/api/v1/tenants/acme/databases/${name}`, undefined, acme)).json().openConnections as number;

/** A session through the proxy: TLS ends at the proxy (SNI picks the route), plaintext to PostgreSQL. */
async function session(): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: pgPort,
    user: decodeURIComponent(upstreamDb.username),
    password: decodeURIComponent(upstreamDb.password),
    database: upstreamDb.pathname.slice(1),
    ssl: { servername: host('orders'), rejectUnauthorized: false },
  });
  await c.connect();
  return c;
}

beforeAll(async () => {
  pgPort = await freePort();
  const tlsPort = await freePort();
  const listeners = `postgres=postgres@127.0.0.1:${pgPort},tls=tls@127.0.0.1:${tlsPort}`;
  h = await createHarness({ SWITCHYARD_KEYS: KEYS, SWITCHYARD_LISTENERS: listeners, PROXY_LIVENESS_MS: '5000' });
  ({ token: acme } = await seedTenant(h, 'acme'));
  ({ token: beta } = await seedTenant(h, 'beta'));
  // The control database itself is refused as an upstream (no open proxy): a TCP relay to the
  // same PostgreSQL stands in for the tenant's database.
  const control = new URL(h.db.url);
  upstreamDb = control;
  relay = createServer((client) => {
    const server = connect(Number(control.port || 5432), control.hostname);
    client.pipe(server).pipe(client);
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const upstream = { host: '127.0.0.1', port: (relay.address() as AddressInfo).port };
  for (const name of ['orders', 'billing']) {
    expect((await h.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream }, acme)).statusCode).toBe(201);
    const a = await h.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access`, { enabled: true, tlsMode: 'terminate', upstreamTls: false }, acme);
    expect(a.statusCode, a.body).toBe(200);
  }
  expect((await h.call('POST', '/api/v1/tenants/beta/databases', { name: 'orders', engine: 'postgres', upstream }, beta)).statusCode).toBe(201);
  acmeId = (await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } })).id;
  await startProxy(listeners, await freePort());
}, 60_000);

afterAll(async () => {
  if (proxy && proxy.exitCode === null) {
    proxy.kill('SIGTERM');
    await once(proxy, 'exit');
  }
  await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
  await h?.close();
});

describe('open connections per database', () => {
  it('is 0 for every database while nothing is connected', async () => {
    expect(await counts()).toEqual({ billing: 0, orders: 0 });
    expect(await countOf('orders')).toBe(0);
  });

  it('counts real sessions held through the proxy, on the list and the detail, and drops them when they close', async () => {
    const a = await session();
    const b = await session();
    try {
      expect((await a.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      const seen = await until(() => counts(), (c) => c.orders === 2, 'two open connections to orders');
      expect(seen).toEqual({ billing: 0, orders: 2 });
      expect(await countOf('orders')).toBe(2);
      expect(await countOf('billing')).toBe(0);
      // The same number the live list gives for the database.
      const live = await h.call('GET', '/api/v1/tenants/acme/connections/live?database=orders', undefined, acme);
      expect(live.json().items).toHaveLength(2);
      // Another tenant's database of the same name is not touched by acme's sessions.
      expect(await counts(beta, 'beta')).toEqual({ orders: 0 });
    } finally {
      await a.end();
    }
    await until(() => countOf('orders'), (n) => n === 1, 'one connection left');
    await b.end();
    await until(() => countOf('orders'), (n) => n === 0, 'no connection left');
  });

  it('ignores stale proxies and reports that name another tenant', async () => {
    const orders = await h.app.prisma.database.findFirstOrThrow({ where: { name: 'orders', tenantId: acmeId } });
    const betaTenant = await h.app.prisma.tenant.findUniqueOrThrow({ where: { slug: 'beta' } });
    const report = (id: string, tenantId: string) => ({
      id,
      listener: 'postgres',
      routeId: 'r',
      tenantId,
      databaseId: orders.id,
      clientAddress: '127.0.0.1',
      clientPort: 40000,
      sni: host('orders'),
      mode: 'terminate',
      startedAt: Date.now(),
      bytesIn: 0,
      bytesOut: 0,
    });
    const row = (id: string, heartbeatAt: Date, connections: unknown[]) => ({
      id,
      hostname: 'elsewhere',
      pid: 1,
      version: 'test',
      appliedVersion: 0n,
      startedAt: heartbeatAt,
      heartbeatAt,
      connections: connections as never,
    });
    await h.app.prisma.proxyInstance.createMany({
      data: [
        // Stopped reporting a minute ago (PROXY_LIVENESS_MS is 5 s here).
        row('stale-proxy', new Date(Date.now() - 60_000), [report('s.1', acmeId), report('s.2', acmeId)]),
        // Live, but the connection is another tenant's even though it names acme's database.
        row('live-proxy', new Date(), [report('l.1', betaTenant.id)]),
      ],
    });
    try {
      expect(await counts()).toEqual({ billing: 0, orders: 0 });
      expect(await countOf('orders')).toBe(0);
      // A live proxy's report of acme's own connection does count.
      await h.app.prisma.proxyInstance.update({ where: { id: 'live-proxy' }, data: { connections: [report('l.1', betaTenant.id), report('l.2', acmeId)] as never } });
      expect(await countOf('orders')).toBe(1);
    } finally {
      await h.app.prisma.proxyInstance.deleteMany({ where: { id: { in: ['stale-proxy', 'live-proxy'] } } });
    }
  });

  it('is documented in the OpenAPI schema', async () => {
    const doc = (await h.call('GET', '/docs/json', undefined, null)).json();
    const schema = doc.components.schemas.Database;
    expect(schema.required).toContain('openConnections');
    expect(schema.properties.openConnections).toMatchObject({ type: 'integer', minimum: 0 });
  });
});
