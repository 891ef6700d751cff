/**
 * `npm run bench:tenants`: tenants at scale (docs/performance.md "Tenants at scale").
 *
 * 1. The tenant list. TENANT_STEPS tenants (default 1,000, 2,500 and 5,000), each with DBS
 *    databases of which ROUTES have a route (the first enabled; every 10th tenant's first
 *    route holds a dedicated port), bulk-inserted. As a platform admin, REPS times after a
 *    warm-up: GET /api/v1/tenants with no parameters — the first page (100 tenants, as the
 *    dashboard's Tenants page loads it; an API from before the list was paginated answers
 *    every tenant) — a page near the end (`cursor`), a search (`q`), every page at
 *    limit=1000 one after the other, GET /api/v1/tenants/:slug, and the usage statement on its
 *    own: timed over pg (median of 5) and EXPLAIN (ANALYZE, BUFFERS), for every tenant next to
 *    the statement it replaced (three correlated subqueries per tenant over an id array; kept
 *    below) and for one page's 100 ids. Also the time to create one database, whose upstream
 *    check looks up the other tenants whose namespace could take it (by key; before 616b585
 *    it read every other tenant's policy).
 * 2. Growth within one tenant through the API. CLIENTS concurrent clients make CHANGES
 *    changes for a fresh tenant: create its databases, then enable external access on each;
 *    once with no limits and once with limits set far above the usage (so every change takes
 *    the checking path), GROWTH_REPS times after a warm-up, alternating which goes first.
 *    Changes/s, latency, how many of the API's sessions were waiting for a lock
 *    (pg_stat_activity sampled), and the latency of another tenant's reads meanwhile.
 * 3. The create-database transaction straight over pg, CLIENTS sessions, no API in the way:
 *    the check as it was (FOR NO KEY UPDATE, then the usage statement) vs as it is (the API's
 *    own holdLimitsStatement, then one count), with and without a limit, and with no lock at
 *    all (unsafe, the floor): what the locking alone costs the database.
 *
 * Runs 2 and 3 first, on a control database of a few tenants (at 5,000 tenants the create
 * figures would measure the upstream check, not the locking), then deletes them and runs 1.
 *
 * BASELINE=<checkout> runs suites 1 and 2 against that checkout's API as well, interleaved
 * (one API process each, same database; its apps/api is run, packages resolve through its
 * node_modules — a symlink to this checkout's is fine when only apps/api differs):
 *
 *   mkdir /tmp/base && git archive <commit> apps/api tsconfig.base.json package.json | tar -x -C /tmp/base
 *   ln -s "$PWD/node_modules" /tmp/base/node_modules && ln -s "$PWD/apps/api/node_modules" /tmp/base/apps/api/node_modules
 *   BASELINE=/tmp/base npm run bench:tenants
 *
 *   TENANT_STEPS=5000 REPS=20 CLIENTS=16 CHANGES=500 GROWTH_REPS=3 SQL_CHANGES=2000 npm run bench:tenants
 *   SKIP=growth,sql npm run bench:tenants        # the list only (SKIP takes list, growth, sql)
 *
 * Runs its own embedded PostgreSQL unless DATABASE_URL names a server (a scratch database
 * is created there). Each API runs as its own process; everything shares the machine's cores,
 * and the load average is printed beside the figures.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { holdLimitsStatement, usageQuery } from '../apps/api/src/modules/tenants/tenant-limits.js';
import { ms, scratchDatabase, summary } from './lib.js';
import { load, startApi as startFleetApi, type Api as FleetApi } from './proxy/fleet-lib.js';

const TENANT_STEPS = (process.env.TENANT_STEPS ?? '1000,2500,5000').split(',').map(Number);
const DBS = Number(process.env.DBS ?? 3);
const ROUTES = Number(process.env.ROUTES ?? 2);
const REPS = Number(process.env.REPS ?? 20);
const CLIENTS = Number(process.env.CLIENTS ?? 16);
const CHANGES = Number(process.env.CHANGES ?? 500);
const GROWTH_REPS = Number(process.env.GROWTH_REPS ?? 3);
const SQL_CHANGES = Number(process.env.SQL_CHANGES ?? 2000);
const SKIP = new Set((process.env.SKIP ?? '').split(',').filter(Boolean));
const BASELINE = process.env.BASELINE;

/** The usage statement before "Tenants at scale": three correlated subqueries per tenant. */
const PREVIOUS_USAGE_SQL = `
    SELECT t.id::text AS tenant_id,
           (SELECT count(*) FROM databases d WHERE d.tenant_id = t.id)::int AS databases,
           (SELECT count(*) FROM routes r WHERE r.tenant_id = t.id AND r.enabled)::int AS external_access,
           (SELECT count(*) FROM routes r WHERE r.tenant_id = t.id AND r.dedicated_port IS NOT NULL)::int AS dedicated_ports
      FROM tenants t
     WHERE t.id = ANY($1::uuid[])`;

const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);
const fmt = (s: ReturnType<typeof summary>) => `p50 ${ms(s.p50).padStart(9)}  p90 ${ms(s.p90).padStart(9)}  max ${ms(s.max).padStart(9)}`;
const slugOf = (n: number) => `t${String(n).padStart(5, '0')}`;
const median = (xs: number[]) => summary(xs).p50;

interface Api extends FleetApi {
  label: string;
}

/** One API process (this checkout's, or `checkout`'s), as a platform admin client. */
async function startApi(label: string, databaseUrl: string, checkout?: string): Promise<Api> {
  return { label, ...(await startFleetApi(databaseUrl, { connections: 64, checkout, name: `api-${label}` })) };
}

/** Runs `fn(0…n-1)` with `clients` in flight; changes per second and each call's latency. */
async function drive(n: number, clients: number, fn: (i: number) => Promise<unknown>): Promise<{ perSecond: number; latency: ReturnType<typeof summary> }> {
  let next = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await fn(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { perSecond: n / ((performance.now() - t0) / 1000), latency: summary(lat) };
}

/** Samples how many sessions of the bench database wait for a heavyweight lock (tuple, transaction id, advisory). */
function lockWaiters(url: string): { stop(): Promise<{ mean: number; max: number }> } {
  const c = new pg.Client({ connectionString: url });
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    await c.connect();
    while (running) {
      const r = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      samples.push(r.rows[0]!.n);
      await new Promise((res) => setTimeout(res, 10));
    }
    await c.end();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { mean: samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length), max: Math.max(0, ...samples) };
    },
  };
}

/** Tenants `from…to-1` (slugs t00000…) with their databases and routes, straight into the tables. */
async function seedTenants(c: pg.Client, from: number, to: number): Promise<void> {
  await c.query('BEGIN');
  await c.query(
    `INSERT INTO tenants (id, slug, name, allowed_upstream_suffixes, updated_at)
     SELECT gen_random_uuid(), 't' || lpad(g::text, 5, '0'), 'Tenant ' || g, ARRAY['t' || lpad(g::text, 5, '0') || '.svc.cluster.local'], now()
       FROM generate_series($1::int, $2::int - 1) g`,
    [from, to],
  );
  const range = `t.slug >= '${slugOf(from)}' AND t.slug < '${slugOf(to)}' AND t.slug ~ '^t[0-9]{5}$'`;
  await c.query(
    `INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, endpoints, updated_at)
     SELECT gen_random_uuid(), t.id, 'db' || k, 'tls', 'db' || k || '.' || t.slug || '.svc.cluster.local', 5432, '[]', now()
       FROM tenants t CROSS JOIN generate_series(0, $1::int - 1) k WHERE ${range}`,
    [DBS],
  );
  await c.query(
    `INSERT INTO routes (id, database_id, tenant_id, hostname, listener, tls_mode, enabled, dedicated_port, updated_at)
     SELECT gen_random_uuid(), d.id, d.tenant_id, d.name || '.' || t.slug || '.db.example.com', 'tls', 'passthrough', d.name = 'db0',
            CASE WHEN d.name = 'db0' AND substr(t.slug, 2)::int % 10 = 0 THEN 30000 + substr(t.slug, 2)::int / 10 END, now()
       FROM databases d JOIN tenants t ON t.id = d.tenant_id
      WHERE ${range} AND substr(d.name, 3)::int < $1::int`,
    [ROUTES],
  );
  await c.query('COMMIT');
  await c.query('ANALYZE tenants, databases, routes');
}

type ListPage = { items: Array<{ slug: string }>; nextCursor?: string | null };

/** An API from before the list was paginated answers every tenant, without `nextCursor`. */
const paginated = (r: ListPage) => 'nextCursor' in r;

async function listSuite(apis: Api[], url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    let have = 0;
    console.log(`\n== GET /api/v1/tenants (platform admin), ${DBS} databases and ${ROUTES} routes per tenant, ${REPS} calls after 3 warm-up ==`);
    for (const n of TENANT_STEPS) {
      log(`seeding tenants ${have}…${n - 1}`);
      await seedTenants(c, have, n);
      have = n;
      const total = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants')).rows[0]!.n;
      // A page near the end starts after this slug; the search matches 10 tenants by slug (t00490…t00499 at 5,000).
      const deep = Buffer.from(slugOf(n - 150)).toString('base64url');
      const search = slugOf(Math.floor(n / 100) * 10 - 10).slice(0, 5);
      const timings = ['list', 'deep page', 'search', 'every page', 'one', 'create'] as const;
      const times = new Map<Api, Record<(typeof timings)[number], number[]>>(apis.map((a) => [a, Object.fromEntries(timings.map((k) => [k, []])) as never]));
      const bytes = new Map<Api, number>();
      const firstPage = new Map<Api, number>();
      // Interleaved: each API answers one call in turn, so a noisy neighbour hurts all alike.
      for (let i = -3; i < REPS; i++) {
        for (const api of apis) {
          const took = async <T>(what: (typeof timings)[number], fn: () => Promise<T>): Promise<T> => {
            const t = performance.now();
            const out = await fn();
            if (i >= 0) times.get(api)![what].push(performance.now() - t);
            return out;
          };
          const r = await took('list', () => api.call<ListPage>('GET', '/api/v1/tenants'));
          const expected = paginated(r) ? Math.min(100, total) : total;
          if (r.items.length !== expected) throw new Error(`${api.label}: the first page has ${r.items.length} tenants, expected ${expected} of ${total}`);
          bytes.set(api, JSON.stringify(r).length);
          firstPage.set(api, r.items.length);
          if (paginated(r)) {
            await took('deep page', () => api.call<ListPage>('GET', `/api/v1/tenants?cursor=${deep}`));
            await took('search', () => api.call<ListPage>('GET', `/api/v1/tenants?q=${search}`));
            const seen = await took('every page', async () => {
              let count = 0;
              let cursor: string | null | undefined = null;
              do {
                const p: ListPage = await api.call<ListPage>('GET', `/api/v1/tenants?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
                count += p.items.length;
                cursor = p.nextCursor;
              } while (cursor);
              return count;
            });
            if (seen !== total) throw new Error(`${api.label}: paging found ${seen} tenants, the table has ${total}`);
          }
          await took('one', () => api.call('GET', `/api/v1/tenants/${slugOf(Math.abs(i) % n)}`));
          // One database created (by one client): its upstream check reads the other tenants.
          await took('create', () =>
            api.call('POST', `/api/v1/tenants/${slugOf(0)}/databases`, { name: `x${n}${api.label.slice(0, 1)}${i + 3}`, engine: 'tls', upstream: { host: `x.${slugOf(0)}.svc.cluster.local`, port: 443 + i + 3 } }),
          );
        }
      }
      for (const api of apis) {
        const t = times.get(api)!;
        const s = summary(t.list);
        const paged = t['deep page'].length > 0;
        console.log(
          `${String(total).padStart(6)} tenants  ${api.label.padEnd(9)} list (no parameters: ${firstPage.get(api)} tenants, ${(bytes.get(api)! / 1e6).toFixed(2)} MB) ${fmt(s)}` +
            (paged
              ? `\n${' '.repeat(24)}page near the end p50 ${ms(summary(t['deep page']).p50)}  q=${search} p50 ${ms(summary(t.search).p50)}  every page at limit=1000 p50 ${ms(summary(t['every page']).p50)}`
              : '') +
            `\n${' '.repeat(24)}GET one p50 ${ms(summary(t.one).p50)}  create a database p50 ${ms(summary(t.create).p50)}`,
        );
      }
      // The usage statement alone, over pg: before (an id array, three subqueries per tenant),
      // every tenant ('all', the whole list before pagination) and one page's ids (the list now).
      const ids = (await c.query<{ id: string }>('SELECT id::text AS id FROM tenants ORDER BY slug')).rows.map((r) => r.id);
      const all = usageQuery('all');
      const page = usageQuery(ids.slice(0, 100));
      const statements = [
        { label: 'before', text: PREVIOUS_USAGE_SQL, values: [ids] as unknown[] },
        { label: 'all', text: all.text, values: all.values },
        { label: 'page', text: page.text, values: page.values },
      ];
      const timed = new Map<string, number[]>(statements.map((s) => [s.label, []]));
      for (let i = 0; i < 6; i++) {
        for (const s of statements) {
          const t = performance.now();
          await c.query(s.text, s.values);
          if (i > 0) timed.get(s.label)!.push(performance.now() - t);
        }
      }
      const plans = new Map<string, string[]>();
      for (const s of statements) plans.set(s.label, (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.values)).rows.map((r) => r['QUERY PLAN']));
      const planMs = (label: string, what: 'Planning' | 'Execution') => Number(new RegExp(`${what} Time: ([\\d.]+)`).exec(plans.get(label)!.join('\n'))?.[1]).toFixed(1);
      console.log(
        `${String(total).padStart(6)} tenants  usage statement over pg, median of 5: ` +
          statements.map((s) => `${s.label} ${ms(median(timed.get(s.label)!))} (EXPLAIN: planning ${planMs(s.label, 'Planning')} ms, execution ${planMs(s.label, 'Execution')} ms)`).join(', ') +
          `  load ${load()}`,
      );
      if (n === TENANT_STEPS[TENANT_STEPS.length - 1]) {
        for (const s of statements) {
          // The id array is 5,000 literals long; the plan's shape is what matters.
          const plan = plans.get(s.label)!.map((l) => l.replace(/'\{[0-9a-f,-]{200,}\}'/g, "'{…ids…}'"));
          console.log(`\nEXPLAIN (ANALYZE, BUFFERS), usage statement ${s.label}, ${total} tenants:\n${plan.join('\n')}`);
        }
      }
    }
  } finally {
    await c.end();
  }
}

async function growthSuite(apis: Api[], url: string): Promise<void> {
  console.log(`\n== Growth within one tenant through the API: ${CLIENTS} clients, ${CHANGES} changes per run ==`);
  type Row = { api: string; what: string; limits: string; perSecond: number; latency: ReturnType<typeof summary>; waiting: { mean: number; max: number }; other: ReturnType<typeof summary> };
  const rows: Row[] = [];
  const LIMITS = ['no limits', 'limits set'];
  // Another tenant's reader during each run: what a burst of one tenant costs everyone else
  // on the same API (its pool has 10 connections; a transaction waiting for a lock holds one).
  await apis[0]!.call('POST', '/api/v1/tenants', { slug: 'bystander', name: 'Bystander', upstreamPolicy: { hostSuffixes: ['bystander.svc.cluster.local'], cidrs: [] } });
  for (let i = 0; i < 3; i++) await apis[0]!.call('POST', '/api/v1/tenants/bystander/databases', { name: `db${i}`, engine: 'tls', upstream: { host: `db${i}.bystander.svc.cluster.local`, port: 443 } });
  const bystander = (api: Api) => {
    const lat: number[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const t = performance.now();
        await api.call('GET', '/api/v1/tenants/bystander/databases');
        lat.push(performance.now() - t);
      }
    })();
    return async () => {
      running = false;
      await loop;
      return summary(lat);
    };
  };
  // Warm-up: each API creates and exposes a few databases first (JIT, pools, caches).
  for (const api of apis) {
    const slug = `warm${api.label.slice(0, 1)}`;
    await api.call('POST', '/api/v1/tenants', { slug, name: slug, upstreamPolicy: { hostSuffixes: [`${slug}.svc.cluster.local`], cidrs: [] } });
    await drive(100, CLIENTS, (i) => api.call('POST', `/api/v1/tenants/${slug}/databases`, { name: `db${i}`, engine: 'tls', upstream: { host: `db${i}.${slug}.svc.cluster.local`, port: 443 } }));
    await drive(100, CLIENTS, (i) => api.call('PUT', `/api/v1/tenants/${slug}/databases/db${i}/external-access`, { enabled: true }));
  }
  for (let rep = 0; rep < GROWTH_REPS; rep++) {
    const order = rep % 2 === 0 ? apis : [...apis].reverse();
    for (const api of order) {
      for (const limited of rep % 2 === 0 ? [false, true] : [true, false]) {
        const slug = `grow${rep}${api.label.slice(0, 1)}${limited ? 'l' : 'u'}`;
        const max = limited ? 1_000_000 : null;
        await api.call('POST', '/api/v1/tenants', {
          slug,
          name: slug,
          upstreamPolicy: { hostSuffixes: [`${slug}.svc.cluster.local`], cidrs: [] },
          maxDatabases: max,
          maxExternalAccess: max,
          maxDedicatedPorts: max,
        });
        const limits = LIMITS[limited ? 1 : 0]!;
        let w = lockWaiters(url);
        let b = bystander(api);
        const created = await drive(CHANGES, CLIENTS, (i) =>
          api.call('POST', `/api/v1/tenants/${slug}/databases`, { name: `db${i}`, engine: 'tls', upstream: { host: `db${i}.${slug}.svc.cluster.local`, port: 443 } }),
        );
        rows.push({ api: api.label, what: 'create database', limits, ...created, waiting: await w.stop(), other: await b() });
        w = lockWaiters(url);
        b = bystander(api);
        const enabled = await drive(CHANGES, CLIENTS, (i) => api.call('PUT', `/api/v1/tenants/${slug}/databases/db${i}/external-access`, { enabled: true }));
        rows.push({ api: api.label, what: 'enable external access', limits, ...enabled, waiting: await w.stop(), other: await b() });
        log(`rep ${rep + 1}/${GROWTH_REPS} ${api.label} ${limits}: create ${created.perSecond.toFixed(0)}/s, enable ${enabled.perSecond.toFixed(0)}/s (load ${load()})`);
      }
    }
  }
  console.log(
    `\n${'change'.padEnd(24)}${'api'.padEnd(10)}${'limits'.padEnd(12)}${'changes/s med (range)'.padEnd(22)}${'latency p50 (median run)'.padEnd(26)}${'p90 (worst run)'.padEnd(17)}${'lock waiters mean/max'.padEnd(23)}other tenant's read p50 (median run)`,
  );
  for (const what of ['create database', 'enable external access']) {
    for (const limits of LIMITS) {
      for (const api of apis) {
        const mine = rows.filter((r) => r.what === what && r.limits === limits && r.api === api.label);
        const rates = mine.map((r) => r.perSecond);
        console.log(
          `${what.padEnd(24)}${api.label.padEnd(10)}${limits.padEnd(12)}${`${median(rates).toFixed(0)} (${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)})`.padEnd(22)}` +
            `${ms(median(mine.map((r) => r.latency.p50))).padEnd(26)}${ms(Math.max(...mine.map((r) => r.latency.p90))).padEnd(17)}` +
            `${`${(mine.reduce((a, r) => a + r.waiting.mean, 0) / mine.length).toFixed(1)} / ${Math.max(...mine.map((r) => r.waiting.max))}`.padEnd(23)}${ms(median(mine.map((r) => r.other.p50)))}`,
        );
      }
    }
  }
}

/**
 * What the API's create-database transaction sends, over pg with no API: lock (or read) the
 * tenant's limits, check when a limit is set, insert the database and its audit event, commit.
 */
async function sqlSuite(url: string): Promise<void> {
  console.log(`\n== The create-database transaction over pg, ${CLIENTS} sessions, ${SQL_CHANGES} per run, no API ==`);
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  // Before, the check counted with the whole usage statement; now with one count.
  const countBefore = (c: pg.Client, tenantId: string) => c.query(PREVIOUS_USAGE_SQL, [[tenantId]]);
  const count = (c: pg.Client, tenantId: string) => c.query('SELECT count(*)::int AS n FROM databases WHERE tenant_id = $1', [tenantId]);
  // Now: the API's own first statement (share lock, then the advisory lock when the limit is set).
  const hold = (c: pg.Client, tenantId: string) => {
    const q = holdLimitsStatement(tenantId, 'maxDatabases');
    return c.query(q.text, q.values);
  };
  const variants: Array<{ name: string; limited: boolean; check(c: pg.Client, tenantId: string): Promise<unknown> }> = [
    { name: 'before: FOR NO KEY UPDATE, no limit', limited: false, check: (c, id) => c.query('SELECT max_databases FROM tenants WHERE id = $1 FOR NO KEY UPDATE', [id]) },
    { name: 'now: FOR SHARE, no limit', limited: false, check: hold },
    {
      name: 'before: FOR NO KEY UPDATE + usage, limit',
      limited: true,
      check: async (c, id) => {
        await c.query('SELECT max_databases FROM tenants WHERE id = $1 FOR NO KEY UPDATE', [id]);
        await countBefore(c, id);
      },
    },
    {
      name: 'now: FOR SHARE + advisory, count, limit',
      limited: true,
      check: async (c, id) => {
        await hold(c, id);
        await count(c, id);
      },
    },
    { name: 'no lock at all (unsafe floor)', limited: false, check: (c, id) => c.query('SELECT max_databases FROM tenants WHERE id = $1', [id]) },
  ];
  const results = new Map<string, number[]>();
  try {
    for (let rep = 0; rep < GROWTH_REPS; rep++) {
      for (const v of rep % 2 === 0 ? variants : [...variants].reverse()) {
        const tenantId = randomUUID();
        await setup.query(`INSERT INTO tenants (id, slug, name, max_databases, updated_at) VALUES ($1, $2, $2, $3, now())`, [tenantId, `sql${rep}-${variants.indexOf(v)}`, v.limited ? 1_000_000 : null]);
        let next = 0;
        const t0 = performance.now();
        await Promise.all(
          clients.map(async (c) => {
            for (let i = next++; i < SQL_CHANGES; i = next++) {
              await c.query('BEGIN');
              await v.check(c, tenantId);
              const id = randomUUID();
              await c.query(
                `INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, endpoints, updated_at) VALUES ($1, $2, $3, 'tls', 'h.svc.cluster.local', 443, '[]', now())`,
                [id, tenantId, `db${i}`],
              );
              await c.query(`INSERT INTO audit_events (actor_type, tenant_id, action, target_type, target_id, changes) VALUES ('admin-token', $1, 'database.create', 'database', $2, '{}')`, [tenantId, id]);
              await c.query('COMMIT');
            }
          }),
        );
        results.set(v.name, [...(results.get(v.name) ?? []), SQL_CHANGES / ((performance.now() - t0) / 1000)]);
      }
    }
    for (const v of variants) {
      const r = results.get(v.name)!;
      console.log(`${v.name.padEnd(44)} median ${median(r).toFixed(0).padStart(5)} changes/s  (runs ${r.map((x) => x.toFixed(0)).join(' / ')})`);
    }
    console.log(`load ${load()}`);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
    await setup.end();
  }
}

const db = await scratchDatabase('switchyard_bench_tenants');
const apis: Api[] = [];
try {
  apis.push(await startApi('now', db.url));
  if (BASELINE) apis.push(await startApi('baseline', db.url, BASELINE));
  log(`API${apis.length > 1 ? 's' : ''} up; load ${load()}`);
  // Growth first, on a control database of a few tenants: creating a database reads every
  // other tenant's upstream policy (databases.service.ts allowedEndpoints), which at 5,000
  // tenants would be the figure instead of the locking. The list then starts from no tenants.
  if (!SKIP.has('growth')) await growthSuite(apis, db.url);
  if (!SKIP.has('sql')) await sqlSuite(db.url);
  if (!SKIP.has('list')) {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query('DELETE FROM tenants');
    await c.end();
    await listSuite(apis, db.url);
  }
} finally {
  for (const a of apis) await a.stop();
  await db.close();
}
