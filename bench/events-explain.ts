/**
 * `npm run bench:events`: loads 10 million connection events (30 days, 100 tenants, one of
 * them carrying 20% of the traffic) into a scratch database, then times the API's queries
 * for one tenant and one day and prints their EXPLAIN (ANALYZE, BUFFERS) plans.
 * Uses DATABASE_URL's server when set, else an embedded PostgreSQL. Results: docs/audit.md.
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrisma, migrate, startEmbeddedPostgres } from '@switchyard/db';
import { getFreePort } from '@switchyard/db/testing';
import pg from 'pg';
import { EventsService } from '../apps/api/src/modules/events/events.service.js';

const ROWS = Number(process.env.EVENTS ?? 10_000_000);
let serverUrl = process.env.DATABASE_URL;
let cleanup = async () => {};
if (!serverUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-events-'));
  chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres({
    dataDir: join(dir, 'data'),
    port: await getFreePort(),
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '512MB', max_wal_size: '4GB', maintenance_work_mem: '512MB' },
  });
  serverUrl = server.url;
  cleanup = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const dbName = `switchyard_bench_events`;
await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${dbName}`);
await admin.end();
const url = new URL(serverUrl);
url.pathname = `/${dbName}`;
await migrate(url.toString());
const c = new pg.Client({ connectionString: url.toString() });
await c.connect();

const t0 = performance.now();
await c.query(`INSERT INTO tenants (id, slug, name, updated_at)
  SELECT gen_random_uuid(), 'tenant' || i, 'Tenant ' || i, now() FROM generate_series(0, 99) i`);
await c.query(`INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, updated_at)
  SELECT gen_random_uuid(), t.id, 'db' || g, 'postgres', 'pg.' || t.slug || '.svc.cluster.local', 5432, now()
    FROM tenants t, generate_series(0, 4) g`);
// Tenant 0 gets 20% of the events; the rest spread evenly. Events arrive in time order.
await c.query(
  `WITH t AS (SELECT array_agg(id ORDER BY slug) AS ids FROM tenants),
        d AS (SELECT tenant_id, array_agg(id) AS ids FROM databases GROUP BY tenant_id)
   INSERT INTO connection_events (proxy_id, listener, route_id, tenant_id, database_id, client_address, client_port,
        sni, alpn, mode, started_at, ended_at, bytes_in, bytes_out, outcome, reason)
   SELECT 'proxy-' || (n % 3), 'postgres', NULL, tid, d.ids[1 + n % 5],
          ('10.' || (n % 250) || '.' || (n / 250 % 250) || '.7')::inet, 30000 + n % 30000,
          'db.example.com', 'postgresql', 'passthrough',
          ts, ts + make_interval(secs => n % 600), 1000 + n % 5000, 20000 + n % 90000,
          CASE WHEN n % 23 = 0 THEN 'rejected' WHEN n % 97 = 0 THEN 'error' ELSE 'ok' END,
          CASE WHEN n % 23 = 0 THEN 'source_not_allowed' WHEN n % 97 = 0 THEN 'upstream_unreachable' ELSE 'client_closed' END
     FROM (SELECT n, now() - interval '30 days' + (n::float8 / $1) * interval '30 days' AS ts,
                  (SELECT ids FROM t)[CASE WHEN n % 5 = 0 THEN 1 ELSE 2 + (n % 99) END] AS tid
             FROM generate_series(0, $1 - 1) n) s
     JOIN d ON d.tenant_id = s.tid`,
  [ROWS],
);
await c.query('VACUUM (ANALYZE) connection_events');
const loadSeconds = (performance.now() - t0) / 1000;
const size = (await c.query(`SELECT pg_size_pretty(pg_total_relation_size('connection_events')) AS s, count(*) AS n FROM connection_events`)).rows[0];
console.log(`loaded ${Number(size.n).toLocaleString('en-US')} events in ${loadSeconds.toFixed(0)} s; table + indexes: ${size.s}`);

const tenant = (await c.query(`SELECT id, slug FROM tenants WHERE slug = 'tenant0'`)).rows[0] as { id: string; slug: string };
const to = new Date(Date.now() - 2 * 86_400_000);
const from = new Date(to.getTime() - 86_400_000);
const perDay = (await c.query('SELECT count(*) AS n FROM connection_events WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3', [tenant.id, from, to])).rows[0].n;
console.log(`tenant0 has ${Number(perDay).toLocaleString('en-US')} events in the queried day\n`);

// The service's own queries, through Prisma, as the API runs them.
const prisma = createPrisma(url.toString());
const actor = { principal: { actorType: 'admin-token' as const, actorId: 'bench', isPlatformAdmin: true, tenantRoles: new Map() }, requestId: 'bench', clientAddress: '127.0.0.1' };
const tenantRow = await prisma.tenant.findUniqueOrThrow({ where: { slug: 'tenant0' } });
const svc = new EventsService(prisma, { resolve: async () => tenantRow });
async function timed(name: string, fn: () => Promise<unknown>) {
  await fn(); // warm
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`${name.padEnd(58)} median ${times[2]!.toFixed(1).padStart(7)} ms  (min ${times[0]!.toFixed(1)}, max ${times[4]!.toFixed(1)})`);
}
const q = { from: from.toISOString(), to: to.toISOString() };
await timed('list: first page of 100 (one tenant, one day)', () => svc.connections(actor, 'tenant0', { ...q, limit: 100 }));
const page = (await svc.connections(actor, 'tenant0', { ...q, limit: 100 })) as { nextCursor: string };
await timed('list: a later page via cursor', () => svc.connections(actor, 'tenant0', { ...q, limit: 100, cursor: page.nextCursor }));
await timed('list: filtered (outcome=rejected, 10.0.0.0/8)', () => svc.connections(actor, 'tenant0', { ...q, outcome: 'rejected', clientAddress: '10.0.0.0/8', limit: 100 }));
await timed('stats: 5-minute buckets over the day (288 buckets)', () => svc.stats(actor, 'tenant0', { ...q, interval: '5m' }));
await timed('stats: hourly buckets over 7 days', () => svc.stats(actor, 'tenant0', { from: new Date(to.getTime() - 7 * 86_400_000).toISOString(), to: q.to, interval: '1h' }));

async function explain(title: string, sql: string, params: unknown[]) {
  const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`, params);
  console.log(`\n-- ${title}\n${r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n')}`);
}
await explain(
  'first page, one tenant, one day',
  `SELECT e.id, e.started_at, e.client_address, e.outcome FROM connection_events e
    WHERE e.tenant_id = $1 AND e.started_at >= $2 AND e.started_at < $3
    ORDER BY e.started_at DESC, e.id DESC LIMIT 101`,
  [tenant.id, from, to],
);
await explain(
  'stats, 5-minute buckets, one tenant, one day',
  `SELECT date_bin(make_interval(secs => 300), e.started_at, TIMESTAMPTZ '1970-01-01') AS bucket,
          CASE WHEN e.outcome = 'ok' THEN NULL ELSE e.reason END AS reason, count(*),
          count(*) FILTER (WHERE e.outcome = 'ok'), sum(e.bytes_in), sum(e.bytes_out)
     FROM connection_events e WHERE e.tenant_id = $1 AND e.started_at >= $2 AND e.started_at < $3 GROUP BY 1, 2`,
  [tenant.id, from, to],
);
await prisma.$disconnect();
await c.end();
await cleanup();
