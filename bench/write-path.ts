/**
 * `npm run bench:write-path`: the write path at a Kubernetes controller's first sync.
 *
 * 10,000 databases of one tenant get external access as fast as the API accepts it, twice:
 *  - single: one `PUT …/databases/:db/external-access` per route, CONCURRENCY in flight
 *    (a controller with that many reconcile workers);
 *  - batch: `POST …/external-access/batch` with BATCH routes per request, BATCH_CONCURRENCY
 *    requests in flight;
 * alternately enabling and disabling, REPS times each (interleaved). Reported per run:
 * changes/s accepted (last response), and the time until every proxy (PROXIES real proxy
 * processes, each holding FILLER other routes) announced the last version as applied.
 *
 *   npm run bench:write-path
 *   CHANGES=10000 CONCURRENCY=32 BATCH=500 BATCH_CONCURRENCY=2 PROXIES=3 FILLER=0 REPS=2 npm run bench:write-path
 *
 * Runs its own embedded PostgreSQL unless DATABASE_URL names a server (a scratch database
 * is created there). Everything shares the machine's cores; the load average is printed
 * beside each figure.
 */
import { scratchDatabase, summary } from './lib.js';
import { AppliedWatch, load, seedFleet, startApi, startProxies, type Api, type FleetProxy } from './proxy/fleet-lib.js';

const CHANGES = Number(process.env.CHANGES ?? 10_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const BATCH = Number(process.env.BATCH ?? 500);
const BATCH_CONCURRENCY = Number(process.env.BATCH_CONCURRENCY ?? 2);
const PROXIES = Number(process.env.PROXIES ?? 3);
const FILLER = Number(process.env.FILLER ?? 0);
const REPS = Number(process.env.REPS ?? 2);

interface Run {
  mode: 'single' | 'batch';
  enabled: boolean;
  changes: number;
  acceptMs: number;
  perSecond: number;
  /** From the first request to every proxy applying the last version. */
  allAppliedMs: number | null;
  /** From the last response to every proxy applying the last version. */
  tailMs: number | null;
  latency: ReturnType<typeof summary>;
  load: string;
}

const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

const db = await scratchDatabase('switchyard_bench_write_path');
let api: Api | null = null;
let proxies: FleetProxy[] = [];
const watch = new AppliedWatch(db.url);
try {
  api = await startApi(db.url);
  await api.call('POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', upstreamPolicy: { hostSuffixes: ['bench.svc.cluster.local'], cidrs: [] } });
  log(`seeding ${CHANGES} databases${FILLER ? ` and ${FILLER} filler routes` : ''}`);
  await seedFleet(db.url, { databases: CHANGES, fillerRoutes: FILLER });
  log(`starting ${PROXIES} proxies`);
  proxies = await startProxies(PROXIES, db.url, 'bench-write');
  await watch.start();
  const ids = proxies.map((p) => p.name);
  const a = api;

  async function run(mode: Run['mode'], enabled: boolean): Promise<Run> {
    const latencies: number[] = [];
    let maxVersion = 0;
    const t0 = performance.now();
    if (mode === 'single') {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < CHANGES) {
            const i = next++;
            const t = performance.now();
            const r = await a.call('PUT', `/api/v1/tenants/bench/databases/db${i}/external-access`, { enabled });
            latencies.push(performance.now() - t);
            maxVersion = Math.max(maxVersion, r.version);
          }
        }),
      );
    } else {
      let next = 0;
      await Promise.all(
        Array.from({ length: BATCH_CONCURRENCY }, async () => {
          while (next < CHANGES) {
            const from = next;
            next = Math.min(CHANGES, next + BATCH);
            const items = Array.from({ length: next - from }, (_, k) => ({ database: `db${from + k}`, enabled }));
            const t = performance.now();
            const r = await a.call('POST', '/api/v1/tenants/bench/external-access/batch', { items });
            latencies.push(performance.now() - t);
            if (r.changed !== items.length) throw new Error(`batch changed ${r.changed} of ${items.length}`);
            maxVersion = Math.max(maxVersion, r.version);
          }
        }),
      );
    }
    const accepted = performance.now();
    const all = await watch.waitAll(ids, maxVersion, 120_000);
    return {
      mode,
      enabled,
      changes: CHANGES,
      acceptMs: accepted - t0,
      perSecond: CHANGES / ((accepted - t0) / 1000),
      allAppliedMs: all === null ? null : all - t0,
      tailMs: all === null ? null : Math.max(0, all - accepted),
      latency: summary(latencies),
      load: load(),
    };
  }

  const runs: Run[] = [];
  let enabled = true;
  for (let r = 0; r < REPS; r++) {
    for (const mode of ['single', 'batch'] as const) {
      log(`${mode} run ${r + 1}/${REPS}: ${enabled ? 'enabling' : 'disabling'} ${CHANGES} routes (load ${load()})`);
      const x = await run(mode, enabled);
      runs.push(x);
      log(
        `  ${x.perSecond.toFixed(0)} changes/s accepted in ${(x.acceptMs / 1000).toFixed(2)} s; all ${PROXIES} proxies applied the last one ${x.allAppliedMs === null ? 'NOT within 120 s' : `at ${(x.allAppliedMs / 1000).toFixed(2)} s (+${x.tailMs!.toFixed(0)} ms after the last response)`}; request p50 ${x.latency.p50.toFixed(1)} ms p99 ${x.latency.p99.toFixed(1)} ms; load ${x.load}`,
      );
      enabled = !enabled;
    }
  }

  console.log(`\nwrite path: ${CHANGES} route changes, ${PROXIES} proxies (${FILLER} filler routes each), single c=${CONCURRENCY}, batch ${BATCH} × c=${BATCH_CONCURRENCY}`);
  console.log('  mode    changes/s  accepted s  all applied s  after last response ms  request p50 ms  request p99 ms  load average');
  for (const x of runs) {
    console.log(
      `  ${x.mode.padEnd(6)}  ${x.perSecond.toFixed(0).padStart(9)}  ${(x.acceptMs / 1000).toFixed(2).padStart(10)}  ${(x.allAppliedMs === null ? 'timeout' : (x.allAppliedMs / 1000).toFixed(2)).padStart(13)}  ${(x.tailMs === null ? '—' : x.tailMs.toFixed(0)).padStart(22)}  ${x.latency.p50.toFixed(1).padStart(14)}  ${x.latency.p99.toFixed(1).padStart(14)}  ${x.load}`,
    );
  }
  const med = (mode: Run['mode']) => summary(runs.filter((x) => x.mode === mode).map((x) => x.perSecond)).p50;
  console.log(`  batch / single changes/s: ${(med('batch') / med('single')).toFixed(1)}×`);
} finally {
  await watch.stop();
  for (const p of proxies) await p.stop();
  await api?.stop();
  await db.close();
}
