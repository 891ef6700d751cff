/**
 * `npm run bench`: the proxy benchmark of issues 4 and 13 — Switchyard against the direct
 * path, HAProxy, nginx (stream, ssl_preread) and a minimal Node passthrough proxy
 * (bench/proxy/node-reference.ts: what Node itself costs), in one run, repetitions
 * interleaved (direct, switchyard, haproxy, nginx, node, direct, …), medians and ratios
 * printed, targets checked, everything written to bench/results/<timestamp>.json. Not a
 * test: numbers depend on the machine. Needs Debian's `haproxy`, and `nginx` (or
 * `nginx-light`) with `libnginx-mod-stream`; `--targets` leaves some out.
 *
 *   npm run bench                 # full suite, pinned then unpinned (~18 min on 2 cores)
 *   npm run bench -- --quick      # smoke run (~2 min): 1 repetition, short windows
 *   npm run bench -- --modes pinned --suites conns,bulk
 *   npm run bench -- --modes pinned --suites bulk --bulk plain --directions up --reps 3
 *   npm run bench -- --targets direct,switchyard,node     # without HAProxy and nginx
 *   git worktree add /tmp/sy-base <commit> && ln -s $PWD/node_modules /tmp/sy-base/
 *   npm run bench -- --baseline /tmp/sy-base --targets switchyard,baseline   # A/B, interleaved
 *     (the baseline runs that checkout's apps/proxy; packages resolve to this one's)
 *   npm run bench -- --baseline . --baseline-env PROXY_CLUSTER_SCHEDULING=none --modes unpinned   # A/B of a setting
 *   npm run bench -- --baseline . --baseline-node-args=--single-threaded-gc   # A/B of a node flag
 *   npm run bench -- --run tsx    # Switchyard from its sources under tsx (default: the build, as production)
 *   BENCH_SWITCHYARD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- …  # profile the proxy
 *   BENCH_OUTPUT_DIR=/tmp/out BENCH_SWITCHYARD_NODE_ARGS=--trace-gc-nvp npm run bench -- …  # every child's output kept
 *
 * Pinned (needs ≥ 2 cores): the proxies get core 0, the load generator, backends, the
 * control database and this process the others, so the figures say what one proxy core
 * does. Unpinned: everything shares every core; HAProxy gets nbthread = cores and
 * Switchyard PROXY_WORKERS = cores.
 *
 * Suites: conns (a), bulk (b, both directions), idle (c: RSS slope between 5,000 and 10,000
 * idle connections, after bulk; `--idle 5000,10000`, or more counts for a least-squares fit,
 * e.g. `--idle 5000,6000,7000,8000,9000,10000`; Switchyard's RSS is also read after two full
 * GCs and RSS settling — bench/proxy/settle.mjs — the steady figure; the open-file limit is
 * raised with `prlimit` where allowed, else the counts shrink to fit; in cluster mode the
 * Switchyard targets are measured again at W× the counts, so that each of the W worker heaps holds
 * what one process holds pinned — the target's figure there), idle-terminate (the
 * same through a terminate-mode route, Switchyard and its baseline only) and idle-after-bulk
 * (1,000 sessions that echoed 256 KiB each way, then idle: read buffers left behind) — these
 * two not in the default set —, routes (d), propagation (e).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getFreePort } from '@switchyard/db/testing';
import { root, scrapeMetrics, scratchDatabase } from './lib.js';
import type { BulkResult, ConnsResult } from './proxy/loadgen.js';
import { buildProxy, nginxMissing, startHaproxy, startIpcChild, startNginx, settleRss, startNodeReference, startSwitchyard, type Proc } from './proxy/processes.js';
import { pinTree, processTree, raiseFdLimit, treeRssBytes } from './proxy/procfs.js';
import { propagationBench, type PropagationResult } from './proxy/propagation.js';
import { microBench, type MicroResult } from './proxy/route-table.js';
import { ECHO_TERMINATE_HOST, HOSTS, seedRoutes, seedTerminateRoute, type BenchPorts } from './proxy/seed.js';

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    modes: { type: 'string' },
    suites: { type: 'string' },
    reps: { type: 'string' },
    routes: { type: 'string' },
    out: { type: 'string' },
    bulk: { type: 'string' },
    directions: { type: 'string' },
    targets: { type: 'string' },
    duration: { type: 'string' },
    baseline: { type: 'string' },
    'baseline-env': { type: 'string' },
    'baseline-node-args': { type: 'string' },
    idle: { type: 'string' },
    'warmup-conns': { type: 'string' },
    run: { type: 'string' },
    'upstream-host': { type: 'string' },
  },
});
const quick = opt.quick;
/**
 * The idle suite holds up to 10,000 connections: a proxy holds two descriptors per connection,
 * and the load generator and the backends one each. Raise the limit for this process and its
 * children where allowed (root: `prlimit`); with less, the upper count shrinks to what fits.
 */
const FD_WANTED = 65_536;
const fdSoft = raiseFdLimit(FD_WANTED);
const idleFit = (n: number) => Math.min(n, Math.floor((fdSoft - 500) / 2 / 500) * 500);
const idleRequested = (opt.idle ?? (quick ? '1000,2000' : '5000,10000')).split(',').map(Number);
const idleCounts = [...new Set(idleRequested.map(idleFit))];
/**
 * The idle counts × `workers` for Switchyard's cluster of worker processes. The load generator and
 * the backends hold one descriptor per connection; a worker two per connection it holds, and
 * the kernel's spread over workers accepting on one socket is uneven (busiest 52–55 % seen),
 * so a worker is allowed 60 % of them (or 1.2/W).
 */
function clusterIdleCounts(workers: number): number[] {
  const busiest = Math.min(1, 1.2 / workers);
  const cap = Math.floor(Math.min(fdSoft - 500, (fdSoft - 500) / 2 / busiest) / 500) * 500;
  return [...new Set(idleRequested.map((n) => Math.min(n * workers, cap)))];
}
const P = {
  reps: Number(opt.reps ?? (quick ? 1 : 3)),
  warmupMs: quick ? 300 : 700,
  /**
   * Before the first measured window each target is warmed at c = 16 in chunks of this length
   * until it has taken at least `warmupConns` connections and two consecutive chunks agree on
   * CPU per connection within 10 % (at most `warmupMaxChunks` chunks).
   */
  warmupConns: Number(opt['warmup-conns'] ?? (quick ? 2000 : 6000)),
  warmupChunkMs: quick ? 500 : 1000,
  warmupMaxChunks: 30,
  durationMs: Number(opt.duration ?? (quick ? 1000 : 2500)),
  concurrencies: [1, 16, 64],
  bulkStreams: 8,
  /**
   * Idle RSS slope fitted over these counts (`--idle a,b[,c…]`; the target's: 5,000 → 10,000;
   * more counts in between make the fit steadier).
   */
  idleConnections: idleCounts,
  fdLimit: fdSoft,
  routes: Number(opt.routes ?? 100_000),
  /**
   * How Switchyard runs: `dist` (default) the build on plain node, as production runs it
   * (Dockerfile, `npm start`), compiled first with `tsc -b` (the baseline checkout's too);
   * `tsx` the sources under tsx (module loading costs each process ~0.5–1 s more at start).
   */
  run: opt.run ?? 'dist',
  /**
   * The host Switchyard's benchmark routes name as their upstream (`--upstream-host`): by
   * default the address `127.0.0.1`; a name (e.g. `echo.bench.svc.cluster.local`, served
   * by a local DNS — docs/performance.md "Upstream names") measures what resolving costs.
   * The other proxies dial 127.0.0.1 either way.
   */
  upstreamHost: opt['upstream-host'] ?? '127.0.0.1',
  changes: quick ? 40 : 200,
  microLookups: quick ? 300_000 : 2_000_000,
};
const BULK_KINDS = (opt.bulk ?? 'plain,tls').split(',') as Array<'tls' | 'plain'>;
const DIRECTIONS = (opt.directions ?? 'up,down').split(',') as Direction[];
const SUITES = new Set((opt.suites ?? 'conns,bulk,idle,routes,propagation').split(','));
const cores = availableParallelism();
const allCpus = `0-${cores - 1}`;
const loadOnlyCpus = cores > 2 ? `1-${cores - 1}` : '1';
const requestedModes = (opt.modes ?? 'pinned,unpinned').split(',') as Array<'pinned' | 'unpinned'>;
const modes = requestedModes.filter((m) => m !== 'pinned' || cores >= 2);
if (modes.length < requestedModes.length) console.log('pinned mode needs at least 2 cores; skipped');

type Target = 'direct' | 'switchyard' | 'haproxy' | 'nginx' | 'node' | 'baseline';
type Proxy = Exclude<Target, 'direct'>;
type Direction = 'up' | 'down';
type BulkKey = `${'tls' | 'plain'}-${Direction}`;
const ALL_TARGETS: Target[] = ['direct', 'switchyard', 'haproxy', 'nginx', 'node', 'baseline'];
const TARGETS = (opt.targets ? opt.targets.split(',') : ALL_TARGETS.filter((t) => t !== 'baseline' || opt.baseline)).filter((t): t is Target => ALL_TARGETS.includes(t as Target));
const PROXIES = TARGETS.filter((t): t is Proxy => t !== 'direct');
const has = (t: Target) => TARGETS.includes(t);
const NAMES: Record<Target, string> = { direct: 'direct', switchyard: 'Switchyard', haproxy: 'HAProxy', nginx: 'nginx', node: 'Node ref.', baseline: 'SY baseline' };
if (has('baseline') && !opt.baseline) {
  console.error('target baseline needs --baseline <checkout>');
  process.exit(2);
}
// Fail at once, naming the Debian package, rather than after minutes of seeding.
if (has('haproxy')) {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
  } catch {
    console.error('haproxy not found: apt-get install haproxy (or leave it out: --targets direct,switchyard,nginx,node)');
    process.exit(2);
  }
}
if (has('nginx')) {
  const missing = nginxMissing();
  if (missing) {
    console.error(`${missing} (or leave it out: --targets direct,switchyard,haproxy,node)`);
    process.exit(2);
  }
}
const emptyRuns = <T>(): Record<Target, T[]> => ({ direct: [], switchyard: [], haproxy: [], nginx: [], node: [], baseline: [] });

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined || !Number.isFinite(n)
    ? '—'
    : n.toLocaleString('en-US', {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b && Number.isFinite(a) && Number.isFinite(b) ? a / b : NaN);
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

interface IdleResult {
  /** The counts asked for and the connections held at each. */
  counts: number[];
  opened: number[];
  errors: number;
  /** RSS before any connection, then at each count; read as the process left it. */
  rssMiB: number[];
  /**
   * The same after two full GCs and RSS settling (bench/proxy/settle.mjs; Switchyard and its
   * baseline only, null for the others, which hold no garbage-collected heap).
   */
  settledMiB: number[] | null;
  /** Marginal RSS per connection: least-squares slope over the counts (the target's figure). */
  slopeBytes: number;
  /** The same over the settled readings (the steady figure; NaN without them). */
  settledSlopeBytes: number;
  /** RSS growth from zero to the first count, per connection (the round-1 figure). */
  averageBytes: number;
}

/** Least-squares slope of y over x. */
function fitSlope(x: number[], y: number[]): number {
  if (x.length < 2) return NaN;
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i]! - mx) * (y[i]! - my);
    den += (x[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : NaN;
}

/** Connections each cluster worker accepted (`switchyard_proxy_worker_connections_total`), by worker id. */
async function workerCounts(adminPort: number | undefined): Promise<Record<string, number>> {
  if (!adminPort) return {};
  const text = (await scrapeMetrics(adminPort)) ?? '';
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^switchyard_proxy_worker_connections_total\{worker="([^"]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Share of the busiest worker over a window (1 / workers = even); null without workers. */
function busiestShare(before: Record<string, number>, after: Record<string, number>): { perWorker: number[]; busiestShare: number } | null {
  const perWorker = Object.keys(after).map((w) => after[w]! - (before[w] ?? 0));
  const total = perWorker.reduce((a, b) => a + b, 0);
  return total > 0 ? { perWorker, busiestShare: Math.max(...perWorker) / total } : null;
}

interface ModeResult {
  mode: 'pinned' | 'unpinned';
  cpus: { proxy: string; load: string };
  switchyard: {
    workersRequested: number;
    processes: number;
    startMs: number;
    routeLoadMs: number | null;
    routes: number;
  };
  haproxy: { threads: number; version: string; routes: number };
  nginx: { workers: number; version: string; routes: number };
  /** The warm-up before the first window: connections and CPU µs per connection of each chunk. */
  warmup: Partial<Record<Target, { connections: number; chunks: Array<{ conns: number; cpuUsPerConn: number | null }> }>>;
  conns: Record<string, Record<Target, ConnsResult[]>>;
  /** Cluster mode: connections per worker over each concurrency's runs (switchyard, baseline). */
  workerBalance: Record<string, Partial<Record<Proxy, { perWorker: number[]; busiestShare: number } | null>>>;
  bulk: Partial<Record<BulkKey, Record<Target, BulkResult[]>>>;
  idle: Partial<Record<Target, IdleResult>>;
  /** The same through a terminate-mode route (Switchyard and its baseline). */
  idleTerminate: Partial<Record<Target, IdleResult>>;
  /** Idle sessions that first echoed 256 KiB (1,000 at most: RSS at 0, 500, 1,000). */
  idleAfterBulk: Partial<Record<Target, IdleResult>>;
  /**
   * Cluster mode (W worker processes, each with its own heap): the idle suite again at W× the
   * counts (within the open-file budget), so each worker holds what a single process holds in
   * the pinned run and its own fixed heap growth is behind it, as the slope intends.
   */
  idlePerWorker: Partial<Record<Target, IdleResult>>;
  propagation?: PropagationResult;
  errors: string[];
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
  } catch {
    return 'unknown';
  }
}

const meta = {
  startedAt: new Date().toISOString(),
  commit: gitCommit(),
  quick,
  params: P,
  machine: {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  },
  node: process.version,
};

const results: {
  meta: typeof meta;
  micro?: MicroResult;
  modes: ModeResult[];
  targets?: TargetCheck[];
  finishedAt?: string;
  loadAverageAtEnd?: number[];
} = {
  meta,
  modes: [],
};

// ---------------------------------------------------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), 'sy-bench-run-'));
const t0 = performance.now();
log(`switchyard proxy benchmark${quick ? ' (--quick)' : ''}: ${cores} cores, modes ${modes.join(', ')}, suites ${[...SUITES].join(', ')}`);
if (P.run !== 'dist' && P.run !== 'tsx') throw new Error(`--run must be dist or tsx, not ${P.run}`);
if (P.run === 'dist' && (has('switchyard') || has('baseline'))) {
  log('building the proxy (tsc -b apps/proxy; --run tsx runs the sources instead)');
  if (has('switchyard')) buildProxy();
  if (has('baseline') && opt.baseline) buildProxy(opt.baseline);
}

if (modes[0] === 'pinned') pinTree(process.pid, loadOnlyCpus);

if (SUITES.has('routes')) {
  log('(d) route table in process: build and lookup at 1k, 10k, 100k routes');
  results.micro = microBench([1_000, 10_000, 100_000], P.microLookups);
}

const needDb = ['conns', 'bulk', 'idle', 'idle-terminate', 'idle-after-bulk', 'routes', 'propagation'].some((s) => SUITES.has(s));
const db = needDb ? await scratchDatabase('switchyard_bench_proxy') : null;
const postgresPid = db?.dataDir ? Number(readFileSync(join(db.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) : null;
const ports: BenchPorts = {
  echo: await getFreePort(),
  bulkTls: await getFreePort(),
  bulkPlain: await getFreePort(),
  upTls: await getFreePort(),
  upPlain: await getFreePort(),
  // The terminate route's plaintext upstream (idle-terminate suite).
  echoPlain: await getFreePort(),
};
const BENCH_ROUTES = Object.keys(HOSTS).length + 1;
try {
  if (db) {
    const s = performance.now();
    await seedRoutes(db.url, P.routes, ports, P.upstreamHost);
    await seedTerminateRoute(db.url, ports.echoPlain!);
    log(`control database seeded with ${fmt(P.routes)} routes + ${BENCH_ROUTES} benchmark routes in ${fmt(performance.now() - s)} ms`);
  }
  for (const mode of modes) results.modes.push(await runMode(mode));
} finally {
  await db?.close();
  rmSync(scratch, { recursive: true, force: true });
}

results.targets = checkTargets();
results.finishedAt = new Date().toISOString();
results.loadAverageAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
printReport();
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const outFile = opt.out ?? join(root, 'bench', 'results', `${meta.startedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
log(`done in ${fmt((performance.now() - t0) / 1000, 1)} s; results: ${outFile}`);

// ---------------------------------------------------------------------------------------

async function runMode(mode: 'pinned' | 'unpinned'): Promise<ModeResult> {
  const proxyCpus = mode === 'pinned' ? '0' : allCpus;
  const loadCpus = mode === 'pinned' ? loadOnlyCpus : allCpus;
  const parallel = mode === 'pinned' ? 1 : cores;
  log(`— ${mode}: proxies on CPU ${proxyCpus}, load generator + backends + control database on CPU ${loadCpus}`);
  pinTree(process.pid, loadCpus);
  if (postgresPid) pinTree(postgresPid, loadCpus);

  const r: ModeResult = {
    mode,
    cpus: { proxy: proxyCpus, load: loadCpus },
    switchyard: {
      workersRequested: parallel,
      processes: 0,
      startMs: 0,
      routeLoadMs: null,
      routes: 0,
    },
    haproxy: { threads: parallel, version: '', routes: 0 },
    nginx: { workers: parallel, version: '', routes: 0 },
    warmup: {},
    conns: {},
    workerBalance: {},
    bulk: {},
    idle: {},
    idleTerminate: {},
    idleAfterBulk: {},
    idlePerWorker: {},
    errors: [],
  };
  const adminPorts: Partial<Record<Proxy, number>> = {};
  const procs: Proc[] = [];
  const syProcs: Partial<Record<Proxy, Proc>> = {};
  try {
    if (SUITES.has('conns') || SUITES.has('bulk') || SUITES.has('idle') || SUITES.has('idle-terminate') || SUITES.has('idle-after-bulk') || SUITES.has('routes')) {
      const backends = await startIpcChild('backends', 'bench/proxy/backends.ts', { BENCH_PORTS: [ports.echo, ports.bulkTls, ports.bulkPlain, ports.upTls, ports.upPlain, ports.echoPlain].join(',') }, loadCpus);
      procs.push(backends);
      const loadgen = await startIpcChild('loadgen', 'bench/proxy/loadgen.ts', {}, loadCpus);
      procs.push(loadgen);
      // Room for the idle suite plus the concurrency runs (~2 fds per connection; HAProxy
      // refuses to start above the open-file limit, raised at the top).
      const maxconn = Math.max(...P.idleConnections) + 300;
      const proxyPorts: Partial<Record<Proxy, number>> = {};
      const proxyPids: Partial<Record<Proxy, number>> = {};
      if (has('switchyard')) {
        const syPort = await getFreePort();
        const sy = await startSwitchyard(
          {
            databaseUrl: db!.url,
            tlsPort: syPort,
            adminPort: await getFreePort(),
            cpus: proxyCpus,
            workers: parallel,
            proxyId: `bench-${mode}`,
            dist: P.run === 'dist',
            env: upstreamEnv(),
          },
          processTree,
        );
        procs.push(sy);
        syProcs.switchyard = sy;
        adminPorts.switchyard = sy.adminPort;
        proxyPorts.switchyard = syPort;
        proxyPids.switchyard = sy.pid;
        r.switchyard = {
          workersRequested: parallel,
          processes: sy.processes,
          startMs: sy.readyMs,
          routeLoadMs: sy.loadMs,
          routes: P.routes + BENCH_ROUTES,
        };
        log(`switchyard ready in ${fmt(sy.readyMs)} ms (route table of ${fmt(P.routes + BENCH_ROUTES)} loaded in ${fmt(sy.loadMs)} ms; ${sy.processes} process(es))`);
      }
      if (has('baseline')) {
        const basePort = await getFreePort();
        const base = await startSwitchyard(
          { databaseUrl: db!.url, tlsPort: basePort, adminPort: await getFreePort(), cpus: proxyCpus, workers: parallel, proxyId: `bench-${mode}-baseline`, checkout: opt.baseline, env: { ...upstreamEnv(), ...baselineEnv() }, nodeArgs: (opt['baseline-node-args'] ?? '').split(' ').filter(Boolean), dist: P.run === 'dist' },
          processTree,
        );
        procs.push(base);
        syProcs.baseline = base;
        adminPorts.baseline = base.adminPort;
        proxyPorts.baseline = basePort;
        proxyPids.baseline = base.pid;
        log(`switchyard baseline (${opt.baseline}) ready in ${fmt(base.readyMs)} ms`);
      }
      if (has('haproxy')) {
        const haPort = await getFreePort();
        const ha = await startHaproxy({ databaseUrl: db!.url, dir: scratch, port: haPort, cpus: proxyCpus, threads: parallel, maxconn });
        procs.push(ha);
        proxyPorts.haproxy = haPort;
        proxyPids.haproxy = ha.pid;
        r.haproxy = { threads: parallel, version: ha.version, routes: ha.routes };
        log(`haproxy ${ha.version} ready (${fmt(ha.routes)} routes in its map, nbthread ${parallel})`);
      }
      if (has('nginx')) {
        const ngPort = await getFreePort();
        const ng = await startNginx({ databaseUrl: db!.url, dir: scratch, port: ngPort, cpus: proxyCpus, workers: parallel, maxconn });
        procs.push(ng);
        proxyPorts.nginx = ngPort;
        proxyPids.nginx = ng.pid;
        r.nginx = { workers: parallel, version: ng.version, routes: ng.routes };
        log(`nginx ${ng.version} ready (${fmt(ng.routes)} routes in its map, worker_processes ${parallel})`);
      }
      if (has('node')) {
        const nodePort = await getFreePort();
        const nr = await startNodeReference({ databaseUrl: db!.url, port: nodePort, cpus: proxyCpus, workers: parallel });
        procs.push(nr);
        proxyPorts.node = nodePort;
        proxyPids.node = nr.pid;
        log(`node reference ready (${parallel} process(es))`);
      }

      const port = (t: Target, direct: number) => (t === 'direct' ? direct : proxyPorts[t]!);
      const pid = (t: Target) => (t === 'direct' ? 0 : proxyPids[t]!);

      // Warm every proxy before anything counts, until its CPU per connection has settled: V8
      // compiles a process's hot code with TurboFan on background threads, which /proc counts,
      // and that goes on for thousands of connections (callgrind: 3,000–6,000; see
      // docs/performance.md "Third pass"). A window taken earlier measures the compiles, which
      // a long-running proxy pays once — and more for a process with more code.
      const warm: ModeResult['warmup'] = (r.warmup = {});
      for (const t of TARGETS) {
        const chunks: Array<{ conns: number; cpuUsPerConn: number | null }> = [];
        let total = 0;
        const settled = () => {
          const [a, b] = chunks.slice(-2).map((x) => x.cpuUsPerConn);
          if (total < P.warmupConns || chunks.length < 2) return false;
          if (a == null || b == null) return true;
          return Math.abs(a - b) <= 0.1 * Math.min(a, b);
        };
        while (!settled() && chunks.length < P.warmupMaxChunks) {
          const res = await loadgen.request<ConnsResult>({
            cmd: 'conns',
            port: port(t, ports.echo),
            servername: HOSTS.echo,
            concurrency: 16,
            warmupMs: 0,
            durationMs: P.warmupChunkMs,
            cpuPid: pid(t),
          });
          chunks.push({ conns: res.completed, cpuUsPerConn: res.cpuUsPerConn });
          total += res.completed;
        }
        warm[t] = { connections: total, chunks };
        const cpu = chunks.map((x) => (x.cpuUsPerConn == null ? null : fmt(x.cpuUsPerConn))).filter(Boolean);
        log(`warm-up ${t}: ${fmt(total)} connections in ${chunks.length} chunks${cpu.length ? `, CPU µs/conn per chunk ${cpu.join(' → ')}` : ''}${settled() ? '' : ' (not settled: chunk limit)'}`);
      }

      if (SUITES.has('conns')) {
        for (const c of P.concurrencies) {
          const runs = emptyRuns<ConnsResult>();
          r.conns[String(c)] = runs;
          const clustered = (['switchyard', 'baseline'] as const).filter((t) => has(t) && parallel > 1);
          const before = Object.fromEntries(await Promise.all(clustered.map(async (t) => [t, await workerCounts(adminPorts[t])] as const)));
          for (let rep = 0; rep < P.reps; rep++) {
            for (const t of TARGETS) {
              const res = await loadgen.request<ConnsResult>({
                cmd: 'conns',
                port: port(t, ports.echo),
                servername: HOSTS.echo,
                concurrency: c,
                warmupMs: P.warmupMs,
                durationMs: P.durationMs,
                cpuPid: pid(t),
              });
              runs[t].push(res);
              if (res.errors > 0) r.errors.push(`conns c=${c} ${t}: ${res.errors} errors (${res.firstError})`);
            }
          }
          log(`(a) c=${c}: ${TARGETS.map((t) => `${t} ${fmt(median(runs[t].map((x) => x.rate)))}/s`).join(', ')}`);
          for (const t of clustered) {
            const b = busiestShare(before[t] ?? {}, await workerCounts(adminPorts[t]));
            (r.workerBalance[String(c)] ??= {})[t] = b;
            if (b) log(`(a) c=${c} ${t}: connections per worker ${b.perWorker.join(' / ')} (busiest ${fmt(b.busiestShare * 100)} %)`);
          }
        }
      }

      if (SUITES.has('bulk')) {
        for (const kind of BULK_KINDS) {
          for (const direction of DIRECTIONS) {
            const key: BulkKey = `${kind}-${direction}`;
            const runs = (r.bulk[key] = emptyRuns<BulkResult>());
            const backendPort = direction === 'down' ? (kind === 'tls' ? ports.bulkTls : ports.bulkPlain) : kind === 'tls' ? ports.upTls : ports.upPlain;
            const host = direction === 'down' ? (kind === 'tls' ? HOSTS.bulkTls : HOSTS.bulkPlain) : kind === 'tls' ? HOSTS.upTls : HOSTS.upPlain;
            for (let rep = 0; rep < P.reps; rep++) {
              for (const t of TARGETS) {
                const res = await loadgen.request<BulkResult>({
                  cmd: 'bulk',
                  kind,
                  direction,
                  port: port(t, backendPort),
                  servername: host,
                  streams: P.bulkStreams,
                  warmupMs: P.warmupMs,
                  durationMs: P.durationMs,
                  cpuPid: pid(t),
                });
                runs[t].push(res);
              }
            }
            log(`(b) ${kind} ${direction === 'up' ? 'upload' : 'download'}: ${TARGETS.map((t) => `${t} ${fmt(median(runs[t].map((x) => x.mibPerSec)))} MiB/s`).join(', ')}`);
          }
        }
      }

      /** RSS at 0 and at each idle count of connections to `host` through `t`. */
      const idleRun = async (t: Proxy, host: string, label: string, counts = P.idleConnections, bulkBytes = 0): Promise<IdleResult> => {
        const proc = syProcs[t];
        const heap: string[] = [];
        const settled = proc ? () => settleRss(proc, processTree, treeRssBytes, heap) : null;
        await sleep(500);
        const rss = [treeRssBytes(pid(t))];
        const settledRss = settled ? [await settled()] : null;
        const opened: number[] = [];
        let errors = 0;
        let firstError: string | null = null;
        for (const n of counts) {
          // idle-open answers with every connection held so far.
          const o = await loadgen.request<{ opened: number; errors: number; firstError: string | null }>({
            cmd: 'idle-open',
            port: port(t, ports.echo),
            servername: host,
            count: n - (opened.at(-1) ?? 0),
            concurrency: 64,
            bulkBytes,
          });
          opened.push(o.opened);
          errors += o.errors;
          firstError ??= o.firstError;
          // After bulk: longer than two idle sweeps (pipe/upstream-reads.ts IDLE_SWEEP_MS).
          await sleep(bulkBytes > 0 ? 3000 : 1000);
          rss.push(treeRssBytes(pid(t)));
          if (settled) settledRss!.push(await settled());
        }
        await loadgen.request({ cmd: 'idle-close' });
        if (errors > 0) r.errors.push(`${label} ${t}: ${errors} errors (${firstError})`);
        const res: IdleResult = {
          counts,
          opened,
          errors,
          rssMiB: rss.map((b) => b / 2 ** 20),
          settledMiB: settledRss?.map((b) => b / 2 ** 20) ?? null,
          slopeBytes: fitSlope(opened, rss.slice(1)),
          settledSlopeBytes: settledRss ? fitSlope(opened, settledRss.slice(1)) : NaN,
          averageBytes: opened[0] ? (rss[1]! - rss[0]!) / opened[0] : NaN,
        };
        const mib = (xs: number[]) => xs.map((x) => fmt(x, 1)).join(' → ');
        log(
          `(c) ${label} ${t}: RSS ${mib(res.rssMiB)} MiB at 0 → ${opened.map((n) => fmt(n)).join(' → ')} idle: ${fmt(res.slopeBytes / 1024, 2)} KiB per connection (fitted), ${fmt(res.averageBytes / 1024, 2)} KiB (average to ${fmt(opened[0] ?? 0)})`,
        );
        if (res.settledMiB) log(`(c) ${label} ${t} settled (2 full GCs, RSS still): ${mib(res.settledMiB)} MiB: ${fmt(res.settledSlopeBytes / 1024, 2)} KiB per connection (fitted); V8 at each: ${heap.map((l) => l.replace(/^bench-settled \d+ /, '')).join(' | ')}`);
        return res;
      };

      if (SUITES.has('idle')) {
        for (const t of PROXIES) r.idle[t] = await idleRun(t, HOSTS.echo, 'idle');
        // Switchyard in cluster mode: each worker process grows its own heap; at the counts
        // above a worker holds only 1/W of them, still inside that growth. (Not the Node
        // reference: at 16,000 its workers reached the open-file limit and the run hung.)
        if (parallel > 1) {
          const counts = clusterIdleCounts(parallel);
          for (const t of PROXIES.filter((p) => p === 'switchyard' || p === 'baseline'))
            r.idlePerWorker[t] = await idleRun(t, HOSTS.echo, `idle (${parallel} workers, ${parallel}× the counts)`, counts);
        }
      }
      // Sessions that moved 256 KiB each way and then went idle: read buffers left behind.
      if (SUITES.has('idle-after-bulk')) {
        const n = Math.min(1000, P.idleConnections[0] ?? 1000);
        for (const t of PROXIES) r.idleAfterBulk[t] = await idleRun(t, HOSTS.echo, 'idle after bulk', [n / 2, n], 256 * 1024);
      }
      // Terminate mode: Switchyard only (the other proxies are configured for passthrough).
      if (SUITES.has('idle-terminate')) {
        for (const t of PROXIES.filter((p) => p === 'switchyard' || p === 'baseline')) r.idleTerminate[t] = await idleRun(t, ECHO_TERMINATE_HOST, 'idle terminate');
      }
    }
    for (const p of procs.splice(0).reverse()) await p.stop();

    if (SUITES.has('propagation')) {
      log(`(e) API commit → 3 proxies applied, ${P.changes} changes`);
      r.propagation = await propagationBench({
        tenant: `prop-${mode}`,
        databaseUrl: db!.url,
        proxyCpus,
        loadCpus,
        changes: P.changes,
        workers: parallel,
      });
      log(`(e) all 3 applied: p50 ${fmt(r.propagation.all.p50Ms, 1)} ms, p99 ${fmt(r.propagation.all.p99Ms, 1)} ms (${r.propagation.timeouts} timeouts)`);
    }
  } catch (err) {
    r.errors.push(`${mode}: ${(err as Error).stack ?? String(err)}`);
    log(`${mode} failed: ${(err as Error).message}`);
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
  return r;
}

/** A named upstream resolves to loopback, which a proxy refuses unless told (`--upstream-host`). */
function upstreamEnv(): NodeJS.ProcessEnv {
  return isIP(P.upstreamHost) ? {} : { PROXY_ALLOW_LOOPBACK_UPSTREAMS: 'true' };
}

/** `--baseline-env A=1,B=2`: environment of the baseline proxy (an A/B of a setting). */
function baselineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const kv of (opt['baseline-env'] ?? '').split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

// ---------------------------------------------------------------------------------------

interface TargetCheck {
  mode: string;
  target: string;
  value: string;
  pass: boolean | null;
}

function checkTargets(): TargetCheck[] {
  const out: TargetCheck[] = [];
  const add = (mode: string, target: string, value: number, limit: number, higherIsBetter: boolean, unit: string) =>
    out.push({
      mode,
      target,
      value: `${fmt(value, 2)}${unit} (target ${higherIsBetter ? '≥' : '≤'} ${limit}${unit})`,
      pass: Number.isFinite(value) ? (higherIsBetter ? value >= limit : value <= limit) : null,
    });
  const med = <T>(xs: T[] | undefined, get: (x: T) => number | null) => median((xs ?? []).map((x) => get(x) ?? NaN));
  for (const m of results.modes) {
    for (const [key, b] of Object.entries(m.bulk) as Array<[BulkKey, Record<Target, BulkResult[]>]>) {
      const sy = med(b.switchyard, (x) => x.mibPerSec);
      if (!Number.isFinite(sy)) continue;
      if (b.haproxy.length) add(m.mode, `bulk ${key} vs HAProxy`, ratio(sy, med(b.haproxy, (x) => x.mibPerSec)), 1.2, true, '×');
      if (b.node.length) add(m.mode, `bulk ${key} vs Node reference`, ratio(sy, med(b.node, (x) => x.mibPerSec)), 1.0, true, '×');
    }
    for (const c of ['16', '64']) {
      const a = m.conns[c];
      if (a?.haproxy.length) add(m.mode, `new conns/s at c=${c} vs HAProxy`, ratio(med(a.switchyard, (x) => x.rate), med(a.haproxy, (x) => x.rate)), m.mode === 'pinned' ? 1.0 : 0.9, true, '×');
    }
    for (const [c, a] of Object.entries(m.conns)) {
      if (a.node.length) add(m.mode, `proxy CPU per new conn at c=${c} vs Node reference`, ratio(med(a.switchyard, (x) => x.cpuUsPerConn), med(a.node, (x) => x.cpuUsPerConn)), 1.1, false, '×');
      if (a.haproxy.length && a.direct.length) {
        const direct = med(a.direct, (x) => x.p99Ms);
        add(m.mode, `p99 added over direct at c=${c}, minus HAProxy's`, med(a.switchyard, (x) => x.p99Ms) - direct - (med(a.haproxy, (x) => x.p99Ms) - direct), 0, false, ' ms');
      }
    }
    // In cluster mode the target's figure is the one at W× the counts (see idlePerWorker).
    const idleSy = m.idlePerWorker?.switchyard ?? m.idle.switchyard;
    if (idleSy) {
      const perWorker = idleSy === m.idlePerWorker?.switchyard ? `, ${fmt(idleSy.opened[0] ?? 0)} → ${fmt(idleSy.opened.at(-1) ?? 0)} over ${m.switchyard.workersRequested} workers` : '';
      add(m.mode, `memory per idle passthrough conn (marginal, settled${perWorker})`, (Number.isNaN(idleSy.settledSlopeBytes) ? idleSy.slopeBytes : idleSy.settledSlopeBytes) / 1024, 5, false, ' KiB');
    }
    if (m.switchyard.routeLoadMs !== null && SUITES.has('routes')) {
      add(m.mode, `proxy start: ${fmt(m.switchyard.routes)} routes loaded (snapshot + build)`, m.switchyard.routeLoadMs / 1000, 2, false, ' s');
      add(m.mode, `proxy start: ready (listening with ${fmt(m.switchyard.routes)} routes) from spawn`, m.switchyard.startMs / 1000, 3, false, ' s');
    }
    if (m.propagation) {
      add(m.mode, 'commit → applied p99, slowest of 3 proxies', m.propagation.all.p99Ms, 100, false, ' ms');
      if (m.propagation.timeouts > 0)
        out.push({
          mode: m.mode,
          target: 'commit → applied: changes never applied within 5 s',
          value: String(m.propagation.timeouts),
          pass: false,
        });
    }
  }
  if (results.micro) {
    const s = results.micro.sizes;
    const big = s.find((x) => x.routes === 100_000);
    const small = s.find((x) => x.routes === 1_000);
    if (big) add('in-process', 'build a table of 100,000 routes', big.buildMs / 1000, 2, false, ' s');
    if (big && small) add('in-process', 'lookup cost 100k vs 1k routes (flat)', big.lookupNs / small.lookupNs, 2, false, '×');
  }
  return out;
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  rows.forEach((r, k) => {
    console.log('  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
    if (k === 0) console.log('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

function printReport(): void {
  console.log(`\nSwitchyard proxy benchmark — ${meta.startedAt}, commit ${meta.commit}, ${meta.machine.cpuModel} × ${cores}, node ${process.version}`);
  console.log(`load average at start ${meta.machine.loadAverageAtStart.join(' ')}, at end ${results.loadAverageAtEnd!.join(' ')}; medians of ${P.reps} interleaved repetition(s)`);
  for (const m of results.modes) {
    console.log(
      `\n=== ${m.mode}: proxies on CPU ${m.cpus.proxy}; load, backends, control DB on CPU ${m.cpus.load}; HAProxy ${m.haproxy.version} nbthread ${m.haproxy.threads}; nginx ${m.nginx.version} worker_processes ${m.nginx.workers}; Switchyard ${m.switchyard.processes} process(es) (PROXY_WORKERS=${m.switchyard.workersRequested})`,
    );
    const rows: string[][] = [['metric', ...TARGETS.map((t) => NAMES[t]), ...(has('haproxy') ? ['SY/HAProxy'] : []), ...(has('node') ? ['SY/Node'] : []), ...(has('baseline') ? ['SY/base'] : [])]];
    const row = (name: string, get: (t: Target) => number, digits = 0) => {
      const v = Object.fromEntries(TARGETS.map((t) => [t, get(t)])) as Record<Target, number>;
      rows.push([
        name,
        ...TARGETS.map((t) => fmt(v[t], digits)),
        ...(has('haproxy') ? [fmt(ratio(v.switchyard, v.haproxy), 2)] : []),
        ...(has('node') ? [fmt(ratio(v.switchyard, v.node), 2)] : []),
        ...(has('baseline') ? [fmt(ratio(v.switchyard, v.baseline), 2)] : []),
      ]);
    };
    for (const [c, a] of Object.entries(m.conns)) {
      const direct99 = median(a.direct.map((x) => x.p99Ms));
      row(`(a) new TLS conns/s, c=${c}`, (t) => median(a[t].map((x) => x.rate)));
      row(`    p50 latency ms, c=${c}`, (t) => median(a[t].map((x) => x.p50Ms)), 2);
      row(`    p99 latency ms, c=${c}`, (t) => median(a[t].map((x) => x.p99Ms)), 2);
      row(`    p99 added over direct, ms`, (t) => (t === 'direct' ? NaN : median(a[t].map((x) => x.p99Ms)) - direct99), 2);
      row(`    proxy CPU µs/conn, c=${c}`, (t) => median(a[t].map((x) => x.cpuUsPerConn ?? NaN)), 0);
    }
    for (const [key, b] of Object.entries(m.bulk) as Array<[BulkKey, Record<Target, BulkResult[]>]>) {
      const [kind, direction] = key.split('-');
      row(`(b) bulk ${kind} ${direction === 'up' ? 'upload (client → upstream)' : 'download (upstream → client)'}, MiB/s`, (t) => median(b[t].map((x) => x.mibPerSec)));
      row(`    proxy CPU µs/MiB`, (t) => median(b[t].map((x) => x.cpuUsPerMiB ?? NaN)), 0);
    }
    const idle = Object.values(m.idle)[0];
    if (idle) {
      const span = `${fmt(idle.counts[0] ?? 0)} → ${fmt(idle.counts.at(-1) ?? 0)}`;
      row(`(c) KiB RSS per idle conn, marginal ${span}, settled`, (t) => (m.idle[t] ? m.idle[t].settledSlopeBytes / 1024 : NaN), 2);
      row(`    KiB RSS per idle conn, marginal ${span}, as is`, (t) => (m.idle[t] ? m.idle[t].slopeBytes / 1024 : NaN), 2);
      row(`    KiB RSS per idle conn, average 0 → ${fmt(idle.counts[0])}`, (t) => (m.idle[t] ? m.idle[t].averageBytes / 1024 : NaN), 2);
    }
    const perWorker = Object.values(m.idlePerWorker ?? {})[0];
    if (perWorker) {
      const span = `${fmt(perWorker.opened[0] ?? 0)} → ${fmt(perWorker.opened.at(-1) ?? 0)}`;
      row(`(c) same, cluster: ${span} over all workers, settled`, (t) => (m.idlePerWorker[t] ? m.idlePerWorker[t].settledSlopeBytes / 1024 : NaN), 2);
      row(`    same, cluster: ${span} over all workers, as is`, (t) => (m.idlePerWorker[t] ? m.idlePerWorker[t].slopeBytes / 1024 : NaN), 2);
    }
    const afterBulk = Object.values(m.idleAfterBulk ?? {})[0];
    if (afterBulk) {
      row(`(c) after 256 KiB each way: KiB RSS per idle conn, 0 → ${fmt(afterBulk.opened.at(-1) ?? 0)}, settled`, (t) => {
        const i = m.idleAfterBulk[t];
        return i?.settledMiB ? ((i.settledMiB.at(-1)! - i.settledMiB[0]!) * 1024) / (i.opened.at(-1) ?? 1) : NaN;
      }, 2);
      row(`    after 256 KiB each way: KiB RSS per idle conn, as is`, (t) => {
        const i = m.idleAfterBulk[t];
        return i ? ((i.rssMiB.at(-1)! - i.rssMiB[0]!) * 1024) / (i.opened.at(-1) ?? 1) : NaN;
      }, 2);
    }
    const term = Object.values(m.idleTerminate ?? {})[0];
    if (term) {
      const span = `${fmt(term.counts[0] ?? 0)} → ${fmt(term.counts.at(-1) ?? 0)}`;
      row(`(c) terminate: KiB RSS per idle conn, marginal ${span}, settled`, (t) => (m.idleTerminate[t] ? m.idleTerminate[t].settledSlopeBytes / 1024 : NaN), 2);
      row(`    terminate: KiB RSS per idle conn, marginal ${span}, as is`, (t) => (m.idleTerminate[t] ? m.idleTerminate[t].slopeBytes / 1024 : NaN), 2);
    }
    if (rows.length > 1) table(rows);
    for (const [c, byTarget] of Object.entries(m.workerBalance ?? {})) {
      for (const [t, b] of Object.entries(byTarget)) if (b) console.log(`  workers, c=${c}, ${NAMES[t as Target]}: connections ${b.perWorker.join(' / ')} (busiest ${fmt(b.busiestShare * 100)} %)`);
    }
    if (SUITES.has('routes'))
      console.log(
        `  (d) real proxy start with ${fmt(m.switchyard.routes)} routes in PostgreSQL: route table loaded in ${fmt(m.switchyard.routeLoadMs)} ms (snapshot query + build), ready in ${fmt(m.switchyard.startMs)} ms from spawn (${P.run === 'dist' ? 'the build on plain node' : 'sources under tsx'}; one start — npm run bench:cold-start takes the median of several)`,
      );
    if (m.propagation) {
      const p = m.propagation;
      console.log(`  (e) commit → applied over ${p.changes} API changes (ms):`);
      table([
        ['proxy', 'p50', 'p99', 'max', 'self-reported mean'],
        ...p.perProxy.map((x) => [x.proxyId, fmt(x.p50Ms, 1), fmt(x.p99Ms, 1), fmt(x.maxMs, 1), fmt(x.selfReportedMeanMs, 1)]),
        ['slowest of 3, per change', fmt(p.all.p50Ms, 1), fmt(p.all.p99Ms, 1), fmt(p.all.maxMs, 1), ''],
      ]);
    }
    for (const e of m.errors) console.log(`  ! ${e.split('\n')[0]}`);
  }
  if (results.micro) {
    const mi = results.micro;
    console.log(`\n=== in process: ClientHello parse ${fmt(mi.helloParseNs.classic)} ns (classic), ${fmt(mi.helloParseNs.postQuantum)} ns (post-quantum, 4 records)`);
    table([
      ['routes', 'build ms', 'lookup ns (same 1k names)', 'lookup ns (all names)', 'one-route delta ms'],
      ...mi.sizes.map((s) => [fmt(s.routes), fmt(s.buildMs, 1), fmt(s.lookupNs), fmt(s.lookupAllNs), fmt(s.deltaMs, 2)]),
    ]);
  }
  console.log('\n=== targets');
  table([['mode', 'target', 'measured', 'result'], ...results.targets!.map((t) => [t.mode, t.target, t.value, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS'])]);
}
