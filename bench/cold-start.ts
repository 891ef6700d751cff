/**
 * `npm run bench:cold-start`: a proxy's cold start with ROUTES routes (default 100,000).
 *
 * 1. In process, each step of a full load timed alone (median of STEPS runs): the snapshot
 *    query (server + transfer + pg's row decoding), `routeFromRow`, building the table, and
 *    what a cluster worker's copy costs (encoding the table for IPC, decoding it, building).
 * 2. Real proxies: STARTS cold starts of `PROXY_WORKERS=WORKERS` (cluster mode) and of a
 *    single process, interleaved: "loaded" is the proxy's own log (snapshot + build, the
 *    primary's), "ready" is spawn → /readyz answering 200 (every worker listening); the
 *    resident memory of the process tree once ready.
 * Step 1 also reports the heap a built table holds per route (primary and worker copies).
 *
 *   npm run bench:cold-start
 *   ROUTES=100000 STARTS=3 WORKERS=2 npm run bench:cold-start
 *   BASELINE=/work/main STARTS=3 npm run bench:cold-start   # A/B against another checkout
 *   RUN=tsx npm run bench:cold-start                        # the sources under tsx instead
 *   NICE=-10 npm run bench:cold-start                       # proxies at a higher priority (root), on a shared machine
 *
 * The proxies run as production runs them (Dockerfile, `npm start`): the build
 * (`apps/proxy/dist/main.js`, compiled first with `tsc -b`, in the baseline checkout too) on
 * plain node. `RUN=tsx` runs `src/main.ts` under tsx as the other benchmarks do; module
 * loading under tsx costs every process (the primary and each worker) ~0.5–1 s more CPU.
 *
 * Runs its own embedded PostgreSQL unless DATABASE_URL names a server. Goal (issue 13):
 * loaded < 2 s, ready < 3 s in cluster mode.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTE_SNAPSHOT_SQL, routeFromRow, type RouteRecord, type RouteSnapshotRow } from '@switchyard/core';
import { getFreePort } from '@switchyard/db/testing';
import pg from 'pg';
import { recordOf, SNAPSHOT_CHUNK, snapshotMessages, SnapshotAssembler } from '../apps/proxy/src/cluster/messages.js';
import { RouteTable } from '../apps/proxy/src/router/route-table.js';
import { scratchDatabase, summary } from './lib.js';
import { load, seedFleet } from './proxy/fleet-lib.js';
import { buildProxy, startSwitchyard } from './proxy/processes.js';
import { processTree, treeCpuMicros, treeRssBytes } from './proxy/procfs.js';

const ROUTES = Number(process.env.ROUTES ?? 100_000);
const STARTS = Number(process.env.STARTS ?? 3);
const STEPS = Number(process.env.STEPS ?? 3);
const WORKERS = Number(process.env.WORKERS ?? 2);
/** Another checkout whose proxy starts interleaved with this one's (A/B), e.g. /work/main. */
const BASELINE = process.env.BASELINE;
/** `dist` (default: the build, as production runs it) or `tsx` (the sources). */
const RUN = process.env.RUN ?? 'dist';
/** A niceness for the proxies (`nice -n`): on a machine shared with other work, -10 gives them most of their cores. */
const NICE = process.env.NICE;
if (RUN !== 'dist' && RUN !== 'tsx') throw new Error(`RUN must be dist or tsx, not ${RUN}`);

const med = (xs: number[]) => summary(xs).p50;
const time = async <T>(fn: () => T | Promise<T>): Promise<[number, T]> => {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
};

const db = await scratchDatabase('switchyard_bench_cold_start');
try {
  const setup = new pg.Client({ connectionString: db.url });
  await setup.connect();
  await setup.query(`INSERT INTO tenants (id, slug, name, updated_at) VALUES (gen_random_uuid(), 'bench', 'Bench', now())`);
  await setup.end();
  await seedFleet(db.url, { databases: 0, fillerRoutes: ROUTES });
  console.log(`cold start with ${ROUTES} routes; load ${load()}`);

  // 1. Steps, in process.
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const steps: Record<string, number[]> = {};
  const note = (k: string, ms: number) => (steps[k] ??= []).push(ms);
  for (let i = 0; i < STEPS; i++) {
    const [q, res] = await time(() => c.query<RouteSnapshotRow>(ROUTE_SNAPSHOT_SQL, [null]));
    note('snapshot query (server + transfer + pg row decoding)', q);
    const explain = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, TIMING OFF) ${ROUTE_SNAPSHOT_SQL}`, [null]);
    note('  of which server execution (EXPLAIN ANALYZE)', Number(/Execution Time: ([\d.]+)/.exec(explain.rows.at(-1)!['QUERY PLAN'])?.[1] ?? NaN));
    const [m, records] = await time(() => res.rows.map(routeFromRow));
    note('routeFromRow', m);
    const [b, table] = await time(() => RouteTable.build(1, records));
    note('RouteTable.build', b);
    // A worker's copy. Before: chunks of record objects, JSON-serialised by node:cluster
    // once per worker. Now: chunks of tuples in one string each, encoded once for all workers
    // (node:cluster's JSON step then only copies the string).
    const [encOld, wireOld] = await time(() => {
      const out: string[] = [];
      const all = [...table.routes()].map(recordOf);
      for (let k = 0; k < all.length; k += SNAPSHOT_CHUNK) out.push(JSON.stringify({ sy: 1, t: 'snapshot', records: all.slice(k, k + SNAPSHOT_CHUNK) }));
      return out;
    });
    note('IPC encode, record objects (before; per worker)', encOld);
    note('  MB per worker (before)', wireOld.reduce((n, x) => n + x.length, 0) / 1e6);
    const [decOld] = await time(() => {
      const bld = RouteTable.builder();
      for (const x of wireOld) bld.add((JSON.parse(x) as { records: RouteRecord[] }).records);
      return bld.build(1);
    });
    note('IPC decode + build, record objects (before; worker)', decOld);
    const [enc, wire] = await time(() => snapshotMessages(table, null).map((x) => JSON.stringify(x)));
    note('IPC encode, tuples (now; once for all workers)', enc);
    note('  MB per worker (now)', wire.reduce((n, x) => n + x.length, 0) / 1e6);
    const [dec] = await time(() => {
      const asm = new SnapshotAssembler();
      let done = null;
      for (const x of wire) done = asm.feed(JSON.parse(x) as never) ?? done;
      return done;
    });
    note('IPC decode + build, tuples (now; worker)', dec);
  }
  // Heap a table holds, per route, after full GCs (`--expose-gc`, set by the npm script):
  // the primary's (from pg's rows) and a cluster worker's (decoded from the IPC tuples).
  const gc = (globalThis as { gc?: () => void }).gc;
  const settled = async () => {
    // Until the heap stops shrinking: a full GC leaves some garbage to the next (weak
    // references, finalizers, pg's buffers released a tick later).
    let last = Infinity;
    for (let i = 0; i < 10; i++) {
      gc!();
      await new Promise((r) => setImmediate(r));
      const used = process.memoryUsage().heapUsed;
      if (used >= last - 64 * 1024) return used;
      last = used;
    }
    return last;
  };
  const heldPerRoute = async (make: () => Promise<{ size: number } | null>): Promise<number> => {
    const before = await settled();
    const table = await make();
    const after = await settled();
    return (after - before) / (table?.size ?? NaN);
  };
  const held = gc
    ? {
        primary: await heldPerRoute(async () => RouteTable.build(1, (await c.query<RouteSnapshotRow>(ROUTE_SNAPSHOT_SQL, [null])).rows.map(routeFromRow))),
        worker: await (async () => {
          const wire = snapshotMessages(RouteTable.build(1, (await c.query<RouteSnapshotRow>(ROUTE_SNAPSHOT_SQL, [null])).rows.map(routeFromRow)), null).map((x) => JSON.stringify(x));
          return heldPerRoute(async () => {
            const asm = new SnapshotAssembler();
            let done = null;
            for (const x of wire) done = asm.feed(JSON.parse(x) as never) ?? done;
            return done?.table ?? null;
          });
        })(),
      }
    : null;
  await c.end();
  console.log(`\n(1) steps, median of ${STEPS}, ms:`);
  for (const [k, v] of Object.entries(steps)) console.log(`  ${k.padEnd(56)} ${med(v).toFixed(0).padStart(7)}`);
  if (held) console.log(`  heap held by the table, bytes per route: primary (from rows) ${held.primary.toFixed(0)}, worker (from IPC) ${held.worker.toFixed(0)}`);
  else console.log('  (heap per route: run with node --expose-gc, as `npm run bench:cold-start` does)');

  // 2. Real proxies.
  if (NICE && db.dataDir) {
    // The embedded control database too (its backends fork from the postmaster and inherit it).
    const postmaster = readFileSync(join(db.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!;
    execFileSync('sh', ['-c', `renice -n ${Number(NICE)} -p ${postmaster} $(pgrep -P ${postmaster})`], { stdio: 'ignore' });
  }
  if (RUN === 'dist') {
    buildProxy();
    if (BASELINE) buildProxy(BASELINE);
  }
  const runs: Record<string, Array<{ loadMs: number | null; readyMs: number; cpuMs: number; rssMiB: number; load: string }>> = { cluster: [], single: [], ...(BASELINE ? { 'baseline cluster': [] } : {}) };
  for (let i = 0; i < STARTS; i++) {
    for (const mode of Object.keys(runs)) {
      const p = await startSwitchyard(
        {
          databaseUrl: db.url,
          tlsPort: await getFreePort(),
          adminPort: await getFreePort(),
          cpus: '0-1',
          workers: mode === 'single' ? 1 : WORKERS,
          proxyId: `bench-cold-${mode.replace(' ', '-')}-${i}`,
          checkout: mode.startsWith('baseline') ? BASELINE : undefined,
          dist: RUN === 'dist',
          wrap: NICE ? ['nice', '-n', NICE] : undefined,
        },
        processTree,
      );
      // CPU of the whole tree (primary and workers) from spawn to ready: on a shared, noisy
      // machine it moves far less than the wall time.
      const cpuMs = treeCpuMicros(p.pid) / 1000;
      // Resident memory of the whole tree once ready (the tables of the primary and workers).
      const rssMiB = treeRssBytes(p.pid) / 2 ** 20;
      runs[mode]!.push({ loadMs: p.loadMs, readyMs: p.readyMs, cpuMs, rssMiB, load: load() });
      await p.stop();
    }
  }
  console.log(`\n(2) real proxy starts (${STARTS} each, interleaved, ${RUN === 'dist' ? 'the build on plain node' : 'sources under tsx'}${NICE ? `, nice ${NICE}` : ''}), ms:`);
  for (const [mode, rs] of Object.entries(runs)) {
    for (const r of rs) console.log(`  ${mode.padEnd(16)} ${mode === 'single' ? '1 process' : `${WORKERS} workers`}  loaded ${String(r.loadMs).padStart(6)}  ready ${r.readyMs.toFixed(0).padStart(6)}  cpu ${r.cpuMs.toFixed(0).padStart(6)}  RSS ${r.rssMiB.toFixed(0).padStart(4)} MiB  (load ${r.load})`);
    const m = (f: (r: (typeof rs)[number]) => number) => med(rs.map(f)).toFixed(0).padStart(6);
    console.log(`  ${mode.padEnd(16)} median     loaded ${m((r) => r.loadMs ?? NaN)}  ready ${m((r) => r.readyMs)}  cpu ${m((r) => r.cpuMs)}  RSS ${m((r) => r.rssMiB)} MiB`);
  }
  console.log('  goal (cluster): loaded < 2000, ready < 3000 (cpu: all processes of the proxy, spawn → ready)');
} finally {
  await db.close();
}
