/**
 * A terminate order is not lost when the proxy's control connection is down at the moment
 * the API commits it. The proxy (a single process, and cluster mode with two workers, where
 * the primary forwards the order to the worker holding the connection) reaches the control database
 * through a TCP relay the test can cut: every control connection (LISTEN and pool) is
 * closed and new ones are refused; the API, which talks to the database directly, commits
 * the order (row + NOTIFY to nobody); the psql session stays open; once the relay lets
 * connections through again the proxy reads its pending orders after LISTEN is back and
 * terminates the session, and the event names who ended it.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createTestDatabase, until, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { expectPsqlDisconnected, libpq, psqlSession } from '../support/tools.js';
import { startTlsPostgres, type TlsPostgres } from '../support/upstreams.js';

const KEYS = `e2e:${randomBytes(32).toString('base64')}`;
const host = `orders.acme.${BASE_DOMAIN}`;

/** A TCP relay to PostgreSQL that can cut every relayed connection and refuse new ones. */
interface Relay {
  port: number;
  cut(): void;
  resume(): void;
  close(): Promise<void>;
}

async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  let refusing = false;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    open.add(client).add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    cut: () => {
      refusing = true;
      for (const s of open) s.destroy();
    },
    resume: () => {
      refusing = false;
    },
    close: async () => {
      refusing = true;
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.each([
  ['a single process', '1'],
  ['cluster mode, two workers', '2'],
])('%s', (_mode, workers) => {
  let db: TestDatabase;
  let postgres: TlsPostgres;
  let relay: Relay;
  let proxy: ProxyProcess;
  let api: ApiServer;
  let acme: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    const u = new URL(db.url);
    relay = await startRelay({ host: u.hostname, port: Number(u.port || 5432) });
    const viaRelay = new URL(db.url);
    viaRelay.host = `127.0.0.1:${relay.port}`;
    postgres = await startTlsPostgres([host]);
    proxy = await startProxyProcess(viaRelay.toString(), { SWITCHYARD_KEYS: KEYS, PROXY_WORKERS: workers, PROXY_AUDIT_FLUSH_MS: '200' });
    api = await startApi(db.url, proxy.ports, { SWITCHYARD_KEYS: KEYS });
    acme = await seedTenant(api, 'acme');
    expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: postgres.port } }, acme)).status).toBe(201);
    const r = await api.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=true', { enabled: true, tlsMode: 'passthrough' }, acme);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });

  afterAll(async () => {
    await api?.close();
    await proxy?.stop();
    await relay?.close();
    await postgres?.cleanup();
    await db?.drop();
  });

  const controlDb = async () => ((await (await fetch(`http://127.0.0.1:${proxy.adminPort}/readyz`)).json()) as { controlDb: boolean }).controlDb;

  it('applies an order committed while its control connection was down, once it reconnects', async () => {
    const session = psqlSession(libpq(host, proxy.ports.postgres, { sslmode: 'require', application_name: 'orders-e2e' }));
    expect(await session.query('select 41 + 1')).toBe('42');
    const live = await until(
      () => api.call('GET', '/api/v1/tenants/acme/connections/live', undefined, acme),
      (r) => r.body.items.some((c: { sni: string }) => c.sni === host),
      'the session in the live list',
      20_000,
    );
    const conn = live.body.items.find((c: { sni: string }) => c.sni === host);

    // Cut the proxy off the control database; its last heartbeat is still fresh for the API.
    relay.cut();
    await until(controlDb, (up) => !up, 'the proxy to notice its LISTEN connection is gone', 5000);
    const t = await api.call('DELETE', `/api/v1/proxies/${encodeURIComponent(conn.proxyId)}/connections/${conn.id}`, undefined, acme);
    expect(t.status, JSON.stringify(t.body)).toBe(202);
    // The NOTIFY reached nobody: the session still works.
    expect(await session.query('select 1')).toBe('1');
    expect(proxy.output()).not.toContain('"via":"notify"');

    relay.resume();
    await until(controlDb, (up) => up, 'the proxy to reconnect', 15_000);
    const ev = await until(
      () => api.call('GET', '/api/v1/tenants/acme/connection-events?reason=terminated', undefined, acme),
      (r) => r.body.items.length > 0,
      'the terminated event',
      20_000,
    );
    expect(ev.body.items[0]).toMatchObject({ connectionId: conn.id, proxyId: conn.proxyId, endedBy: t.body.endedBy, database: 'orders' });
    // Read back after the reconnect and applied (cluster mode: forwarded to the worker holding it).
    const caughtUp = proxy.output().split('\n').find((l) => l.includes('"via":"catch-up"') && l.includes(`"connectionId":"${conn.id}"`));
    expect(caughtUp).toMatch(workers === '1' ? /connection terminated on order/ : /terminate order forwarded to its worker/);
    await expectPsqlDisconnected(session, 'select 2');

    // Applied once: a later reconnect reads the same pending order and ignores it.
    const lines = (text: string) => proxy.output().split('\n').filter((l) => l.includes(text));
    const applied = () => lines('"via"').filter((l) => l.includes(`"connectionId":"${conn.id}"`)).length;
    expect(applied()).toBe(1);
    const reads = lines('pending control orders read').length;
    relay.cut();
    await until(controlDb, (up) => !up, 'the second cut', 5000);
    relay.resume();
    await until(async () => lines('pending control orders read').length, (n) => n > reads, 'the catch-up read after the second reconnect', 15_000);
    expect(applied()).toBe(1);
  }, 90_000);
});
