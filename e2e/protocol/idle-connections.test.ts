/**
 * 1,000 idle established connections through the real proxy (passthrough) survive 1,000
 * route changes of other routes: 950 TLS sessions to redis-server through the tls listener
 * and 50 PostgreSQL sessions (node-postgres) to PostgreSQL 18 through the postgres listener.
 * The changes — enable, disable, modify the upstream, switch to `close` and disable, delete
 * and recreate — go through the control database exactly as the API writes them (route row,
 * version bump, change log and NOTIFY in one transaction), on both listeners, in the same
 * tenant. None of the 1,000 may be closed, and at the end each one still round-trips.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ControlDb, createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Metrics } from '../support/raw.js';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { requireOpenFiles } from '../support/tools.js';
import { startTlsPostgres, startTlsRedis, type TlsPostgres, type TlsRedis } from '../support/upstreams.js';

const REDIS_SESSIONS = 950;
const PG_SESSIONS = 50;
const ROUTE_CHANGES = 1000;
const OTHER_ROUTES = 20;
const pgHost = `orders.acme.${BASE_DOMAIN}`;
const redisHost = `cache.acme.${BASE_DOMAIN}`;

let db: TestDatabase;
let control: ControlDb;
let postgres: TlsPostgres;
let redis: TlsRedis;
let proxy: ProxyProcess;
let api: ApiServer;

beforeAll(async () => {
  // Each socket is held twice (test client and proxy), the upstream holds the other side.
  requireOpenFiles(3 * (REDIS_SESSIONS + PG_SESSIONS) + 500);
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  postgres = await startTlsPostgres([pgHost]);
  redis = await startTlsRedis([redisHost]);
  proxy = await startProxyProcess(db.url);
  api = await startApi(db.url, proxy.ports);
  const token = await seedTenant(api);
  for (const [name, engine, port] of [['orders', 'postgres', postgres.port], ['cache', 'redis', redis.port]] as const) {
    expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine, upstream: { host: '127.0.0.1', port } }, token)).status).toBe(201);
    const r = await api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, { enabled: true, tlsMode: 'passthrough' }, token);
    expect(r.body.propagation.state).toBe('applied');
  }
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await redis?.stop();
  await postgres?.cleanup();
  await control?.close();
  await db?.drop();
});

/** Resolves once the proxy serves `version` (its /readyz reports the applied version). */
async function applied(version: number): Promise<void> {
  while (((await proxy.version()) ?? 0) < version) await new Promise((r) => setTimeout(r, 100));
}

/** Reads one RESP reply line. */
async function ping(tls: TLSSocket): Promise<string> {
  tls.write('PING\r\n');
  const [d] = (await once(tls, 'data')) as [Buffer];
  return d.toString();
}

it(`${REDIS_SESSIONS + PG_SESSIONS} idle connections survive ${ROUTE_CHANGES} changes of other routes`, async () => {
  const redisCa = readFileSync(redis.caFile, 'utf8');
  const pgCa = readFileSync(postgres.caFile, 'utf8');
  let dropped = 0;

  // Establish the sessions (in batches) and prove each one works once.
  const sessions: TLSSocket[] = [];
  for (let i = 0; i < REDIS_SESSIONS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, REDIS_SESSIONS - i) }, async () => {
        const tls = tlsConnect({ host: '127.0.0.1', port: proxy.ports.tls, servername: redisHost, ca: redisCa });
        await once(tls, 'secureConnect');
        expect(await ping(tls)).toBe('+PONG\r\n');
        tls.on('close', () => dropped++);
        return tls;
      }),
    );
    sessions.push(...batch);
  }
  const clients: pg.Client[] = [];
  for (let i = 0; i < PG_SESSIONS; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const c = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres, user: 'postgres', password: 'postgres', database: 'postgres', ssl: { servername: pgHost, ca: pgCa } });
        c.on('error', () => {});
        await c.connect();
        c.on('end', () => dropped++);
        expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
        return c;
      }),
    );
    clients.push(...batch);
  }
  const before = await Metrics.fetch(proxy.adminPort);
  expect(before.value('switchyard_proxy_connections_open')).toBeGreaterThanOrEqual(REDIS_SESSIONS + PG_SESSIONS);

  // Other routes on both listeners, some draining, some closing on disable.
  const others: Array<{ database: string; engine: 'redis' | 'postgres'; hostname: string; listener: string; routeId: string }> = [];
  for (let i = 0; i < OTHER_ROUTES; i++) {
    const engine = i % 2 === 0 ? ('redis' as const) : ('postgres' as const);
    const spec = { database: `other${i}`, engine, hostname: `other${i}.acme.${BASE_DOMAIN}`, listener: engine === 'redis' ? 'tls' : 'postgres' };
    const { routeId } = await control.putRoute({ ...spec, upstream: { host: '127.0.0.1', port: engine === 'redis' ? redis.port : postgres.port } });
    others.push({ ...spec, routeId });
  }

  // 1,000 changes, round-robin over the other routes and over the kinds of change.
  let version = 0;
  for (let n = 0; n < ROUTE_CHANGES; n++) {
    const o = others[n % OTHER_ROUTES]!;
    const upstream = { host: '127.0.0.1', port: o.engine === 'redis' ? redis.port : postgres.port };
    switch (Math.floor(n / OTHER_ROUTES) % 5) {
      case 0:
        version = await control.setEnabled(o.routeId, false);
        break;
      case 1:
        version = await control.setEnabled(o.routeId, true);
        break;
      case 2:
        // Modify: another upstream port and the close-on-disable behaviour.
        version = (await control.putRoute({ ...o, upstream: { ...upstream, port: upstream.port + 1 }, disableBehavior: 'close' })).version;
        break;
      case 3:
        version = await control.setEnabled(o.routeId, false);
        break;
      case 4: {
        await control.deleteRoute(o.routeId);
        const recreated = await control.putRoute({ ...o, upstream });
        o.routeId = recreated.routeId;
        version = recreated.version;
        n++; // a delete and a create: two changes
        break;
      }
    }
  }
  await applied(version);
  const after = await Metrics.fetch(proxy.adminPort);

  // Nothing was dropped, and every session still round-trips.
  expect(dropped).toBe(0);
  for (let i = 0; i < sessions.length; i += 100) {
    const replies = await Promise.all(sessions.slice(i, i + 100).map((s) => ping(s)));
    expect(replies.every((r) => r === '+PONG\r\n')).toBe(true);
  }
  for (const c of clients) expect((await c.query("select 'alive' as s")).rows).toEqual([{ s: 'alive' }]);
  expect(dropped).toBe(0);
  expect(after.value('switchyard_proxy_connections_total') - before.value('switchyard_proxy_connections_total')).toBe(0);
  expect(after.value('switchyard_proxy_config_version')).toBeGreaterThanOrEqual(version);

  for (const s of sessions) s.destroy();
  await Promise.all(clients.map((c) => c.end()));
});
