/**
 * `npm run bench:connections`: loads 1,000,000 connection events (30 days, 100 tenants, one
 * carrying 20% of the traffic, 3% unrouted: unknown host names and no SNI) into a scratch
 * database, then times every filter combination the connections page offers — first page
 * of the list and the chart stats — for one big tenant, one small tenant and the platform
 * view, over 1 hour, 24 hours, 7 days and 30 days. Through the API's own service code
 * (Prisma), median of 3 after a warm-up. Results: docs/performance.md.
 *
 * EVENTS changes the row count; DATABASE_URL uses an existing server (else an embedded one);
 * RANGES=1h,24h limits the ranges; BENCH_DB names the scratch database; REUSE=1 (with
 * DATABASE_URL) keeps a database an earlier run loaded and only reruns the queries.
 * Stats whose top client addresses were estimated from a sample are timed again right after
 * with every count exact (what the API did before sampling), interleaved, for comparison.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrisma, migrate, startEmbeddedPostgres } from '@switchyard/db';
import { getFreePort } from '@switchyard/db/testing';
import pg from 'pg';
import type { Actor } from '../apps/api/src/lib/access.js';
import type { PlatformConnectionEventsQuery, PlatformStatsQuery } from '../apps/api/src/modules/events/events.schemas.js';
import { EventsService } from '../apps/api/src/modules/events/events.service.js';

const ROWS = Number(process.env.EVENTS ?? 1_000_000);
const LIMIT_MS = 200;
let serverUrl = process.env.DATABASE_URL;
let cleanup = async () => {};
if (!serverUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-conns-'));
  chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres({
    dataDir: join(dir, 'data'),
    port: await getFreePort(),
    // Durability off for the load only; the queries run on default planner settings.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '256MB', max_wal_size: '2GB', maintenance_work_mem: '256MB' },
  });
  serverUrl = server.url;
  cleanup = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const dbName = process.env.BENCH_DB ?? 'switchyard_bench_connections';
if (!/^[a-z_][a-z0-9_]*$/.test(dbName)) throw new Error('BENCH_DB: lower-case letters, digits and _ only');
const reuse = process.env.REUSE === '1' && (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName])).rowCount === 1;
if (!reuse) {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${dbName}`);
}
await admin.end();
const url = new URL(serverUrl);
url.pathname = `/${dbName}`;
await migrate(url.toString());
const c = new pg.Client({ connectionString: url.toString() });
await c.connect();

const t0 = performance.now();
async function load(): Promise<void> {
  await c.query(`INSERT INTO tenants (id, slug, name, updated_at)
    SELECT gen_random_uuid(), 'tenant' || i, 'Tenant ' || i, now() FROM generate_series(0, 99) i`);
  await c.query(`INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, updated_at)
    SELECT gen_random_uuid(), t.id, 'db' || g, 'postgres', 'pg.' || t.slug || '.svc.cluster.local', 5432, now()
      FROM tenants t, generate_series(0, 4) g`);
  // Events arrive in time order. n % 5 = 0 → tenant0 (20%); n % 33 = 1 → unrouted (3%);
  // else one of tenants 1–99. Client addresses: 10.<n%250>.<n/250%250>.7 (62,500 addresses).
  await c.query(
    `WITH t AS (SELECT array_agg(id ORDER BY slug) AS ids, array_agg(slug ORDER BY slug) AS slugs FROM tenants),
          d AS (SELECT tenant_id, array_agg(id ORDER BY name) AS ids FROM databases GROUP BY tenant_id)
     INSERT INTO connection_events (proxy_id, listener, route_id, tenant_id, database_id, client_address, client_port,
          sni, alpn, mode, started_at, ended_at, bytes_in, bytes_out, outcome, reason, upstream, connection_id)
     SELECT 'proxy-' || (n % 3), 'postgres', NULL, s.tid, CASE WHEN s.tid IS NULL THEN NULL ELSE d.ids[1 + n % 5] END,
            ('10.' || (n % 250) || '.' || (n / 250 % 250) || '.7')::inet, 30000 + n % 30000,
            CASE WHEN s.tid IS NULL THEN (CASE WHEN n % 2 = 0 THEN NULL ELSE 'scan-' || (n % 1000) || '.example.net' END)
                 ELSE 'db' || (n % 5) || '.' || s.slug || '.db.example.com' END,
            'postgresql', 'passthrough',
            ts, ts + make_interval(secs => n % 600), 1000 + n % 5000, 20000 + n % 90000,
            CASE WHEN s.tid IS NULL THEN 'rejected' WHEN n % 23 = 0 THEN 'rejected' WHEN n % 97 = 0 THEN 'error' ELSE 'ok' END,
            CASE WHEN s.tid IS NULL THEN (CASE WHEN n % 2 = 0 THEN 'no_sni' ELSE 'unknown_host' END)
                 WHEN n % 23 = 0 THEN 'source_not_allowed' WHEN n % 97 = 0 THEN 'upstream_unreachable' ELSE 'client_closed' END,
            NULL, '1.' || n
       FROM (SELECT n, now() - interval '30 days' + (n::float8 / $1) * interval '30 days' AS ts,
                    CASE WHEN n % 33 = 1 THEN NULL ELSE (SELECT ids FROM t)[CASE WHEN n % 5 = 0 THEN 1 ELSE 2 + (n % 99) END] END AS tid,
                    CASE WHEN n % 33 = 1 THEN NULL ELSE (SELECT slugs FROM t)[CASE WHEN n % 5 = 0 THEN 1 ELSE 2 + (n % 99) END] END AS slug
               FROM generate_series(0, $1 - 1) n) s
       LEFT JOIN d ON d.tenant_id = s.tid`,
    [ROWS],
  );
  await c.query('VACUUM (ANALYZE) connection_events');
}
if (!reuse) await load();
const size = (await c.query(`SELECT pg_size_pretty(pg_total_relation_size('connection_events')) AS s, count(*) AS n FROM connection_events`)).rows[0];
console.log(`loaded ${Number(size.n).toLocaleString('en-US')} events in ${((performance.now() - t0) / 1000).toFixed(0)} s; table + indexes: ${size.s}\n`);

const prisma = createPrisma(url.toString());
const actor: Actor = { principal: { actorType: 'admin-token', actorId: 'bench', isPlatformAdmin: true, tenantRoles: new Map() }, requestId: 'bench', clientAddress: '127.0.0.1' };
const tenants = new Map((await prisma.tenant.findMany()).map((t) => [t.slug, t]));
const resolver = {
  resolve: async (_a: Actor, slug: string) => {
    const t = tenants.get(slug);
    if (!t) throw new Error(`no tenant ${slug}`);
    return t;
  },
};
const svc = new EventsService(prisma, resolver);
const exactSvc = new EventsService(prisma, resolver, { topClientsExactMax: Number.POSITIVE_INFINITY });

async function median(fn: () => Promise<unknown>): Promise<{ median: number; max: number }> {
  await fn(); // warm
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: times[1]!, max: times[2]! };
}

const HOUR = 3600_000;
const RANGES: Record<string, { ms: number; interval: '1m' | '15m' | '1h' | '6h' }> = {
  '1h': { ms: HOUR, interval: '1m' },
  '24h': { ms: 24 * HOUR, interval: '15m' },
  '7d': { ms: 7 * 24 * HOUR, interval: '1h' },
  '30d': { ms: 30 * 24 * HOUR, interval: '6h' },
};
const ranges = (process.env.RANGES ?? Object.keys(RANGES).join(',')).split(',');

type Filters = Partial<Pick<PlatformConnectionEventsQuery, 'tenant' | 'database' | 'outcome' | 'reason' | 'clientAddress' | 'sni'>>;
interface Scope {
  name: string;
  /** null: the platform view (/api/v1/connection-events). */
  tenant: string | null;
  dims: Array<[string, Filters[]]>;
}
const tenantDims = (slug: string): Scope['dims'] => [
  ['database', [{}, { database: 'db1' }]],
  ['outcome', [{}, { outcome: 'rejected' }]],
  ['reason', [{}, { reason: 'source_not_allowed' }]],
  ['client', [{}, { clientAddress: '10.1.2.7' }, { clientAddress: '10.7.0.0/16' }]],
  ['sni', [{}, { sni: `db1.${slug}.db.example.com` }]],
];
const scopes: Scope[] = [
  { name: 'tenant0 (20% of events)', tenant: 'tenant0', dims: tenantDims('tenant0') },
  { name: 'tenant42 (~0.8%)', tenant: 'tenant42', dims: tenantDims('tenant42') },
  {
    name: 'platform (all tenants + unrouted)',
    tenant: null,
    dims: [
      ['tenant', [{}, { tenant: 'tenant0' }, { tenant: 'tenant0', database: 'db1' }]],
      ['outcome', [{}, { outcome: 'rejected' }]],
      ['reason', [{}, { reason: 'unknown_host' }]],
      ['client', [{}, { clientAddress: '10.1.2.7' }, { clientAddress: '10.7.0.0/16' }]],
      ['sni', [{}, { sni: 'db1.tenant0.db.example.com' }]],
    ],
  },
];

function combinations(dims: Scope['dims']): Filters[] {
  let out: Filters[] = [{}];
  for (const [, values] of dims) out = out.flatMap((f) => values.map((v) => ({ ...f, ...v })));
  return out;
}

interface Row {
  scope: string;
  range: string;
  filters: string;
  kind: 'list' | 'stats';
  median: number;
  max: number;
  /** Stats only: the share of events top clients were estimated from (null: exact). */
  sampled?: number | null;
  /** Sampled stats only: the same query with every top-clients count exact. */
  exactMedian?: number;
}
const rows: Row[] = [];
const now = Date.now();
for (const scope of scopes) {
  for (const rangeName of ranges) {
    const r = RANGES[rangeName]!;
    const q = { from: new Date(now - r.ms).toISOString(), to: new Date(now).toISOString() };
    for (const f of combinations(scope.dims)) {
      const label = Object.entries(f).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)';
      const list = await median(() =>
        scope.tenant ? svc.connections(actor, scope.tenant, { ...q, ...f, limit: 100 }) : svc.platformConnections(actor, { ...q, ...f, limit: 100 }),
      );
      rows.push({ scope: scope.name, range: rangeName, filters: label, kind: 'list', ...list });
      const statsQ = { ...q, ...f, interval: r.interval } as PlatformStatsQuery;
      let sampled: number | null = null;
      const stats = await median(async () => {
        const r = await (scope.tenant ? svc.stats(actor, scope.tenant, statsQ) : svc.platformStats(actor, statsQ));
        sampled = r.topClientsSampled;
      });
      let exact: { median: number; max: number } | undefined;
      if (sampled !== null) exact = await median(() => (scope.tenant ? exactSvc.stats(actor, scope.tenant, statsQ) : exactSvc.platformStats(actor, statsQ)));
      rows.push({ scope: scope.name, range: rangeName, filters: label, kind: 'stats', ...stats, sampled, exactMedian: exact?.median });
    }
    const part = rows.filter((x) => x.scope === scope.name && x.range === rangeName);
    const worst = (k: 'list' | 'stats') => part.filter((x) => x.kind === k).reduce((m, x) => Math.max(m, x.median), 0);
    console.log(`${scope.name.padEnd(36)} ${rangeName.padStart(4)}  ${String(part.length / 2).padStart(3)} combinations  worst median: list ${worst('list').toFixed(1).padStart(6)} ms, stats ${worst('stats').toFixed(1).padStart(6)} ms`);
  }
}

// A later page (cursor) for the heaviest scope, and the slowest combinations overall.
const q24 = { from: new Date(now - 24 * HOUR).toISOString(), to: new Date(now).toISOString() };
const first = (await svc.platformConnections(actor, { ...q24, limit: 100 })) as { nextCursor: string };
const later = await median(() => svc.platformConnections(actor, { ...q24, limit: 100, cursor: first.nextCursor }));
console.log(`\nplatform, 24 h, second page via cursor: median ${later.median.toFixed(1)} ms`);
const over = rows.filter((x) => x.median >= LIMIT_MS);
console.log(`\n${rows.length} measurements; ${over.length} with a median of ${LIMIT_MS} ms or more`);
const approx = rows.filter((x) => x.kind === 'stats' && x.sampled != null);
console.log(`top client addresses estimated from a sample in ${approx.length} of ${rows.length / 2} stats queries:`);
for (const x of approx) {
  console.log(
    `  ${x.scope.padEnd(36)} ${x.range.padStart(4)}  sampled ${((x.sampled ?? 0) * 100).toFixed(1).padStart(5)} %: ${x.median.toFixed(1).padStart(6)} ms; all exact: ${(x.exactMedian ?? 0).toFixed(1).padStart(7)} ms  ${x.filters}`,
  );
}
console.log('slowest 12:');
for (const x of [...rows].sort((a, b) => b.median - a.median).slice(0, 12)) {
  console.log(`  ${x.kind.padEnd(5)} ${x.scope.padEnd(36)} ${x.range.padStart(4)}  ${x.median.toFixed(1).padStart(7)} ms (max ${x.max.toFixed(1)})  ${x.filters}`);
}
await prisma.$disconnect();
await c.end();
await cleanup();
