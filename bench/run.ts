/**
 * `npm run bench`: the proxy benchmark of issue 4 — Switchyard against the direct path and
 * against HAProxy, in one run, repetitions interleaved (direct, switchyard, haproxy, direct,
 * …), medians and ratios printed, targets checked, everything written to
 * bench/results/<timestamp>.json. Not a test: numbers depend on the machine.
 *
 *   npm run bench                 # full suite, pinned then unpinned (~8 min on 2 cores)
 *   npm run bench -- --quick      # smoke run (~2 min): 1 repetition, short windows
 *   npm run bench -- --modes pinned --suites conns,bulk
 *
 * Pinned (needs ≥ 2 cores): the proxies get core 0, the load generator, backends, the
 * control database and this process the others, so the figures say what one proxy core
 * does. Unpinned: everything shares every core; HAProxy gets nbthread = cores and
 * Switchyard PROXY_WORKERS = cores.
 *
 * Suites: conns (a), bulk (b), idle (c), routes (d), propagation (e).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getFreePort } from '@switchyard/db/testing';
import { root, scratchDatabase } from './lib.js';
import type { BulkResult, ConnsResult } from './proxy/loadgen.js';
import { startHaproxy, startIpcChild, startSwitchyard, type Proc } from './proxy/processes.js';
import { pinTree, processTree, treeRssBytes } from './proxy/procfs.js';
import { propagationBench, type PropagationResult } from './proxy/propagation.js';
import { microBench, type MicroResult } from './proxy/route-table.js';
import { HOSTS, seedRoutes } from './proxy/seed.js';

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    modes: { type: 'string' },
    suites: { type: 'string' },
    reps: { type: 'string' },
    routes: { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = opt.quick;
const P = {
  reps: Number(opt.reps ?? (quick ? 1 : 3)),
  warmupMs: quick ? 300 : 700,
  durationMs: quick ? 1000 : 2500,
  concurrencies: [1, 16, 64],
  bulkStreams: 8,
  idleConnections: quick ? 1000 : 5000,
  routes: Number(opt.routes ?? 100_000),
  changes: quick ? 40 : 200,
  microLookups: quick ? 300_000 : 2_000_000,
};
const SUITES = new Set((opt.suites ?? 'conns,bulk,idle,routes,propagation').split(','));
const cores = availableParallelism();
const allCpus = `0-${cores - 1}`;
const loadOnlyCpus = cores > 2 ? `1-${cores - 1}` : '1';
const requestedModes = (opt.modes ?? 'pinned,unpinned').split(',') as Array<'pinned' | 'unpinned'>;
const modes = requestedModes.filter((m) => m !== 'pinned' || cores >= 2);
if (modes.length < requestedModes.length) console.log('pinned mode needs at least 2 cores; skipped');

type Target = 'direct' | 'switchyard' | 'haproxy';
const TARGETS: Target[] = ['direct', 'switchyard', 'haproxy'];

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
  conns: Record<string, Record<Target, ConnsResult[]>>;
  bulk: Record<'tls' | 'plain', Record<Target, BulkResult[]>>;
  idle: Partial<
    Record<
      Target,
      {
        connections: number;
        errors: number;
        rssBeforeMiB: number;
        rssAfterMiB: number;
        bytesPerConnection: number;
      }
    >
  >;
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

if (modes[0] === 'pinned') pinTree(process.pid, loadOnlyCpus);

if (SUITES.has('routes')) {
  log('(d) route table in process: build and lookup at 1k, 10k, 100k routes');
  results.micro = microBench([1_000, 10_000, 100_000], P.microLookups);
}

const needDb = ['conns', 'bulk', 'idle', 'routes', 'propagation'].some((s) => SUITES.has(s));
const db = needDb ? await scratchDatabase('switchyard_bench_proxy') : null;
const postgresPid = db?.dataDir ? Number(readFileSync(join(db.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) : null;
const ports = {
  echo: await getFreePort(),
  bulkTls: await getFreePort(),
  bulkPlain: await getFreePort(),
};
try {
  if (db) {
    const s = performance.now();
    await seedRoutes(db.url, P.routes, ports);
    log(`control database seeded with ${fmt(P.routes)} routes + 3 benchmark routes in ${fmt(performance.now() - s)} ms`);
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
    conns: {},
    bulk: {
      tls: { direct: [], switchyard: [], haproxy: [] },
      plain: { direct: [], switchyard: [], haproxy: [] },
    },
    idle: {},
    errors: [],
  };
  const procs: Proc[] = [];
  try {
    if (SUITES.has('conns') || SUITES.has('bulk') || SUITES.has('idle') || SUITES.has('routes')) {
      const backends = await startIpcChild('backends', 'bench/proxy/backends.ts', { BENCH_PORTS: `${ports.echo},${ports.bulkTls},${ports.bulkPlain}` }, loadCpus);
      procs.push(backends);
      const loadgen = await startIpcChild('loadgen', 'bench/proxy/loadgen.ts', {}, loadCpus);
      procs.push(loadgen);
      const syPort = await getFreePort();
      const sy = await startSwitchyard(
        {
          databaseUrl: db!.url,
          tlsPort: syPort,
          adminPort: await getFreePort(),
          cpus: proxyCpus,
          workers: parallel,
          proxyId: `bench-${mode}`,
        },
        processTree,
      );
      procs.push(sy);
      r.switchyard = {
        workersRequested: parallel,
        processes: sy.processes,
        startMs: sy.readyMs,
        routeLoadMs: sy.loadMs,
        routes: P.routes + 3,
      };
      log(`switchyard ready in ${fmt(sy.readyMs)} ms (route table of ${fmt(P.routes + 3)} loaded in ${fmt(sy.loadMs)} ms; ${sy.processes} process(es))`);
      const haPort = await getFreePort();
      const ha = await startHaproxy({
        databaseUrl: db!.url,
        dir: scratch,
        port: haPort,
        cpus: proxyCpus,
        threads: parallel,
        // HAProxy needs ~2 descriptors per maxconn; size it for the idle suite only when it runs (ulimit -n may be 20,000).
        maxconn: Math.max(SUITES.has('idle') ? 2 * P.idleConnections : 0, 2000),
      });
      procs.push(ha);
      r.haproxy = { threads: parallel, version: ha.version, routes: ha.routes };
      log(`haproxy ${ha.version} ready (${fmt(ha.routes)} routes in its map, nbthread ${parallel})`);

      const port = (t: Target, direct: number) => (t === 'direct' ? direct : t === 'switchyard' ? syPort : haPort);
      const pid = (t: Target) => (t === 'direct' ? 0 : t === 'switchyard' ? sy.pid : ha.pid);

      // Warm both proxies (JIT, pools) before anything counts.
      for (const t of TARGETS) {
        await loadgen.request<ConnsResult>({
          cmd: 'conns',
          port: port(t, ports.echo),
          servername: HOSTS.echo,
          concurrency: 16,
          warmupMs: 0,
          durationMs: quick ? 300 : 1000,
          cpuPid: 0,
        });
      }

      if (SUITES.has('conns')) {
        for (const c of P.concurrencies) {
          const runs: Record<Target, ConnsResult[]> = {
            direct: [],
            switchyard: [],
            haproxy: [],
          };
          r.conns[String(c)] = runs;
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
        }
      }

      if (SUITES.has('bulk')) {
        for (const kind of ['tls', 'plain'] as const) {
          for (let rep = 0; rep < P.reps; rep++) {
            for (const t of TARGETS) {
              const res = await loadgen.request<BulkResult>({
                cmd: 'bulk',
                kind,
                port: port(t, kind === 'tls' ? ports.bulkTls : ports.bulkPlain),
                servername: kind === 'tls' ? HOSTS.bulkTls : HOSTS.bulkPlain,
                streams: P.bulkStreams,
                warmupMs: P.warmupMs,
                durationMs: P.durationMs,
                cpuPid: pid(t),
              });
              r.bulk[kind][t].push(res);
            }
          }
          log(`(b) ${kind}: ${TARGETS.map((t) => `${t} ${fmt(median(r.bulk[kind][t].map((x) => x.mibPerSec)))} MiB/s`).join(', ')}`);
        }
      }

      if (SUITES.has('idle')) {
        for (const t of ['switchyard', 'haproxy'] as const) {
          await sleep(500);
          const before = treeRssBytes(pid(t));
          const opened = await loadgen.request<{
            opened: number;
            errors: number;
            firstError: string | null;
          }>({
            cmd: 'idle-open',
            port: port(t, ports.echo),
            servername: HOSTS.echo,
            count: P.idleConnections,
            concurrency: 64,
          });
          await sleep(1000);
          const after = treeRssBytes(pid(t));
          await loadgen.request({ cmd: 'idle-close' });
          if (opened.errors > 0) r.errors.push(`idle ${t}: ${opened.errors} errors (${opened.firstError})`);
          r.idle[t] = {
            connections: opened.opened,
            errors: opened.errors,
            rssBeforeMiB: before / 2 ** 20,
            rssAfterMiB: after / 2 ** 20,
            bytesPerConnection: opened.opened ? (after - before) / opened.opened : NaN,
          };
          log(
            `(c) ${t}: ${fmt(opened.opened)} idle connections, RSS ${fmt(before / 2 ** 20, 1)} → ${fmt(after / 2 ** 20, 1)} MiB = ${fmt((after - before) / opened.opened / 1024, 2)} KiB each`,
          );
        }
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
  for (const m of results.modes) {
    for (const kind of ['tls', 'plain'] as const) {
      const b = m.bulk[kind];
      if (b.switchyard.length)
        add(m.mode, `bulk throughput (${kind}) vs HAProxy`, ratio(median(b.switchyard.map((x) => x.mibPerSec)), median(b.haproxy.map((x) => x.mibPerSec))), 1.0, true, '×');
    }
    for (const c of ['16', '64']) {
      const a = m.conns[c];
      if (a) add(m.mode, `new conns/s at c=${c} vs HAProxy`, ratio(median(a.switchyard.map((x) => x.rate)), median(a.haproxy.map((x) => x.rate))), 1.0, true, '×');
    }
    for (const c of ['1', '16', '64']) {
      const a = m.conns[c];
      if (a)
        add(
          m.mode,
          `proxy CPU per new conn at c=${c} vs HAProxy`,
          ratio(median(a.switchyard.map((x) => x.cpuUsPerConn ?? NaN)), median(a.haproxy.map((x) => x.cpuUsPerConn ?? NaN))),
          1.3,
          false,
          '×',
        );
    }
    if (m.idle.switchyard) add(m.mode, 'memory per idle passthrough conn', m.idle.switchyard.bytesPerConnection / 1024, 8, false, ' KiB');
    if (m.switchyard.routeLoadMs !== null && SUITES.has('routes'))
      add(m.mode, `proxy start: ${fmt(m.switchyard.routes)} routes loaded (snapshot + build)`, m.switchyard.routeLoadMs / 1000, 2, false, ' s');
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
      `\n=== ${m.mode}: proxies on CPU ${m.cpus.proxy}; load, backends, control DB on CPU ${m.cpus.load}; HAProxy ${m.haproxy.version} nbthread ${m.haproxy.threads}; Switchyard ${m.switchyard.processes} process(es) (PROXY_WORKERS=${m.switchyard.workersRequested})`,
    );
    const rows: string[][] = [['metric', 'direct', 'switchyard', 'haproxy', 'sy/haproxy', 'sy/direct', 'ha/direct']];
    const row = (name: string, get: (t: Target) => number, digits = 0, higherIsBetter = true) => {
      const v = TARGETS.map(get);
      void higherIsBetter;
      rows.push([name, ...v.map((x) => fmt(x, digits)), fmt(ratio(v[1], v[2]), 2), fmt(ratio(v[1], v[0]), 2), fmt(ratio(v[2], v[0]), 2)]);
    };
    for (const [c, a] of Object.entries(m.conns)) {
      row(`(a) new TLS conns/s, c=${c}`, (t) => median(a[t].map((x) => x.rate)));
      row(`    p50 latency ms, c=${c}`, (t) => median(a[t].map((x) => x.p50Ms)), 2);
      row(`    p99 latency ms, c=${c}`, (t) => median(a[t].map((x) => x.p99Ms)), 2);
      row(`    proxy CPU µs/conn, c=${c}`, (t) => median(a[t].map((x) => x.cpuUsPerConn ?? NaN)), 0);
    }
    for (const kind of ['tls', 'plain'] as const) {
      const b = m.bulk[kind];
      if (!b.direct.length) continue;
      row(`(b) bulk ${kind}, 8 streams, MiB/s`, (t) => median(b[t].map((x) => x.mibPerSec)));
      row(`    proxy CPU µs/MiB (${kind})`, (t) => median(b[t].map((x) => x.cpuUsPerMiB ?? NaN)), 0);
    }
    if (m.idle.switchyard || m.idle.haproxy) {
      row(`(c) KiB per idle conn (${fmt(m.idle.switchyard?.connections ?? m.idle.haproxy?.connections)} open)`, (t) => (m.idle[t] ? m.idle[t].bytesPerConnection / 1024 : NaN), 2);
    }
    if (rows.length > 1) table(rows);
    if (SUITES.has('routes'))
      console.log(
        `  (d) real proxy start with ${fmt(m.switchyard.routes)} routes in PostgreSQL: route table loaded in ${fmt(m.switchyard.routeLoadMs)} ms (snapshot query + build), ready in ${fmt(m.switchyard.startMs)} ms from spawn`,
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
    table([['routes', 'build ms', 'lookup ns', 'one-route delta ms'], ...mi.sizes.map((s) => [fmt(s.routes), fmt(s.buildMs, 1), fmt(s.lookupNs), fmt(s.deltaMs, 2)])]);
  }
  console.log('\n=== targets');
  table([['mode', 'target', 'measured', 'result'], ...results.targets!.map((t) => [t.mode, t.target, t.value, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS'])]);
}
