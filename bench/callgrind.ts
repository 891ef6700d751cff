/**
 * `npm run bench:instructions`: CPU per new connection and per MiB moved, counted in
 * instructions under valgrind's callgrind — repeatable whatever else runs on the machine,
 * unlike wall-clock CPU time on shared cores (issue 13). Each proxy runs under callgrind; the
 * load (a separate, normal process: this one) warms it up, then for each phase the counters
 * are zeroed (`callgrind_control -z`), the phase runs, and they are dumped (`-d`):
 *
 *   conns   N new TLS connections (full handshake, 32-byte echo, close), concurrency 4 (`--concurrency`),
 *           `--passes` times (mean and spread reported)
 *   up      M MiB of plain bytes after a ClientHello, client → upstream, 4 streams, until
 *           the upstream's FIN comes back through the proxy
 *   down    M MiB upstream → client, 4 streams, until the client has read them
 *           (each per MiB: lower of two counts without TurboFan, minus the same for 1/16 MiB,
 *           which is the streams' set-up; see the bulk phase below)
 *
 * Repeatable per connection (docs/performance.md "Per new connection"):
 * - warm-up until the JIT settled: V8 compiles on background threads, which callgrind counts
 *   too, and TurboFan was still compiling a third of the instructions after 1,500 connections
 *   and a sixth after 3,000. The warm-up runs chunks of N connections, each counted, until a
 *   chunk spends under 5 % in TurboFan (at most `--warmup` connections, default 12 × N);
 * - Switchyard's timers are stretched (heartbeat, its connection-triggered beats, the resync
 *   poll, the audit flush → 1 h; the audit queue is then written when a batch of 500 is full,
 *   as at any real connection rate). Under valgrind a connection takes ~50 ms, so work done
 *   per unit of time (a heartbeat every 300 ms while connections come and go) lands on few
 *   connections and moves with the machine's load; `--keep-timers` leaves the defaults;
 * - `--passes` measured passes of N (default 3 × 1,000), their mean kept (all measured
 *   instructions over all measured connections: a major GC lands in some passes and is
 *   spread over all), min–max printed,
 *   with the share of each pass spent in TurboFan (background compiles) and in the garbage
 *   collector (main-thread pauses and background GC jobs), from `callgrind_annotate`. A major
 *   GC costs ~100 M instructions (the Node reference ran one every ~1,000 connections), and it
 *   is a real per-connection cost (allocation drives it), so a pass should take in at least
 *   one: N = 1,000. "ex-TurboFan" is the count without the background compiles still running
 *   — what a long-running proxy pays once the JIT is done, and the fairer comparison when
 *   the targets warm up at different speeds.
 *
 * User-space instructions only: the kernel's share (accept, connect, read/write, epoll) is
 * not counted, and is about the same for every proxy doing the same syscalls; /proc CPU time
 * in `npm run bench` includes it. The route table holds `--routes` synthetic routes (default
 * 1,000: under valgrind a 100,000-route load takes minutes, and a lookup is one Map read
 * whatever the size).
 *
 *   npm run bench:instructions
 *   npm run bench:instructions -- --targets switchyard,node --mib 0 --conns 500 --passes 5
 *   npm run bench:instructions -- --baseline /tmp/sy-base --targets switchyard,baseline
 *   npm run bench:instructions -- --syscalls --targets switchyard,node   # system calls instead
 *   npm run bench:instructions -- --syscalls --mib 0 --concurrency 1   # one connection at a time (default 4)
 *   npm run bench:instructions -- --syscalls --mib 0 --workers 2 --targets switchyard,node   # cluster mode, every process
 *
 * `--mib 0` skips the bulk phases; `--keep-timers` runs Switchyard with its default timers. `--syscalls`: the targets run without valgrind, and
 * `strace -f -c` is attached (`-p`) for the measured connections only (after the warm-up):
 * system calls per new connection, by name — what the kernel side costs, which the
 * instruction counts leave out. `--cpu-prof <dir>`: the Node targets run without valgrind
 * under `node --cpu-prof` (100 µs sampling), warmed up, then `--passes` × N connections, and
 * stopped; `npx tsx bench/cpuprofile-top.ts <dir>/<target>/CPU.*.0.*.cpuprofile` ranks the functions by self time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parseArgs } from 'node:util';
import { getFreePort } from '@switchyard/db/testing';
import { buildClientHello } from '@switchyard/wire';
import { scratchDatabase } from './lib.js';
import { startHaproxy, startIpcChild, startNginx, startNodeReference, startSwitchyard, type Proc } from './proxy/processes.js';
import { processTree } from './proxy/procfs.js';
import { HOSTS, seedRoutes, type BenchPorts } from './proxy/seed.js';

const { values: opt } = parseArgs({
  options: {
    targets: { type: 'string' },
    routes: { type: 'string' },
    conns: { type: 'string' },
    mib: { type: 'string' },
    baseline: { type: 'string' },
    passes: { type: 'string' },
    warmup: { type: 'string' },
    syscalls: { type: 'boolean', default: false },
    'keep-timers': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    concurrency: { type: 'string' },
    workers: { type: 'string' },
  },
});
const SYSCALLS = opt.syscalls;
/** `--cpu-prof <dir>`: no valgrind; each target runs with `node --cpu-prof` (bench/cpuprofile-top.ts reads them). */
const CPU_PROF = opt['cpu-prof'];
const PLAIN = SYSCALLS || CPU_PROF !== undefined;
type Target = 'switchyard' | 'baseline' | 'node' | 'haproxy' | 'nginx';
const TARGETS = (opt.targets ?? 'switchyard,node,haproxy').split(',') as Target[];
const ROUTES = Number(opt.routes ?? 1000);
const CONNS = Number(opt.conns ?? 1000);
const MIB = Number(opt.mib ?? 64);
const PASSES = Math.max(1, Number(opt.passes ?? 3));
/** Connections in flight at once (`--concurrency`; 1 shows what each connection's own wake-ups cost). */
const CONCURRENCY = Math.max(1, Number(opt.concurrency ?? 4));
/**
 * `--workers N` (with `--syscalls` or `--cpu-prof`): Switchyard and the Node reference in
 * cluster mode, N workers; the system calls of every process of the tree are counted, and the
 * calls that failed (an `accept4` another worker won: EAGAIN) are shown beside them.
 */
const WORKERS = Math.max(1, Number(opt.workers ?? 1));
/** Most warm-up connections (chunks of CONNS until one spends < SETTLED in TurboFan). */
const WARMUP = Number(opt.warmup ?? CONNS * 12);
const SETTLED = 0.05;
/**
 * Switchyard's timers, stretched so that time-driven work stays out of the measured passes
 * (see the header). The audit queue is then written by batch size (500) alone.
 */
const STRETCHED_TIMERS = {
  PROXY_HEARTBEAT_INTERVAL_MS: '3600000',
  PROXY_HEARTBEAT_SOON_MS: '3600000',
  PROXY_RESYNC_INTERVAL_MS: '3600000',
  PROXY_AUDIT_FLUSH_MS: '3600000',
};
const STREAMS = 4;
/** Bytes of the short transfer whose count (mostly the streams' set-up) is taken off a bulk count. */
const SETUP_MIB = 1 / 16;
const ALL_CPUS = `0-${availableParallelism() - 1}`;

try {
  if (CPU_PROF === undefined) execFileSync(SYSCALLS ? 'strace' : 'valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error(SYSCALLS ? 'strace not found: apt-get install strace' : 'valgrind not found: apt-get install valgrind');
  process.exit(2);
}
if (MIB !== 0 && !(MIB >= 4 * SETUP_MIB)) {
  console.error(`--mib ${opt.mib}: at least ${4 * SETUP_MIB} (0 skips the bulk phases)`);
  process.exit(2);
}
if (TARGETS.includes('baseline') && !opt.baseline) {
  console.error('target baseline needs --baseline <checkout>');
  process.exit(2);
}

const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');

function oneConnection(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: HOSTS.echo, rejectUnauthorized: false });
    s.once('secureConnect', () => s.write(Buffer.alloc(32, 0x78)));
    s.once('data', () => s.end());
    s.once('error', reject);
    s.once('close', () => resolve());
  });
}

let refused = 0;

/** n completed connections; a refused one (a proxy under valgrind can miss a deadline) is retried and counted. */
async function conns(port: number, n: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < n) {
        for (let tries = 1; ; tries++) {
          try {
            await oneConnection(port);
            break;
          } catch (err) {
            refused++;
            // A proxy that died refuses forever: give up rather than spin.
            if (tries >= 50) throw err;
          }
        }
      }
    }),
  );
}

/**
 * `mib` MiB over STREAMS plain streams after a ClientHello, in the given direction. Resolves
 * once the bytes went through the proxy, not once the client handed them to its kernel:
 * upload ends with the client's FIN and waits for the upstream's FIN to come back (the
 * upstream ends after the client's, which every proxy forwards after the bytes) — before,
 * a small upload fit in the sockets' kernel buffers and was counted as done while the proxy
 * had not read it yet; download waits until the client has read them all.
 */
async function bulk(port: number, direction: 'up' | 'down', mib: number): Promise<void> {
  const per = (mib * 2 ** 20) / STREAMS;
  const chunk = Buffer.alloc(64 * 1024, 0x75);
  await Promise.all(
    Array.from(
      { length: STREAMS },
      () =>
        new Promise<void>((resolve, reject) => {
          const s = tcpConnect({ host: '127.0.0.1', port });
          s.once('error', reject);
          s.once('connect', () => {
            s.write(buildClientHello({ serverName: direction === 'up' ? HOSTS.upPlain : HOSTS.bulkPlain }));
            let moved = 0;
            if (direction === 'down') {
              s.write('go');
              s.on('data', (d: Buffer) => {
                moved += d.length;
                if (moved >= per) {
                  s.destroy();
                  resolve();
                }
              });
              return;
            }
            s.resume();
            s.once('close', () => resolve());
            const pump = () => {
              while (moved < per) {
                moved += chunk.length;
                if (!s.write(chunk)) return;
              }
              s.end();
            };
            s.on('drain', pump);
            pump();
          });
        }),
    ),
  );
}

function callgrindControl(pid: number, flag: '-z' | '-d'): void {
  execFileSync('callgrind_control', [flag, String(pid)], { stdio: 'ignore' });
}

/** The instruction total of the newest dump of `pid`. */
function lastDumpTotal(dir: string, pid: number): number {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(`cg.${pid}.out.`))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const text = readFileSync(join(dir, files[files.length - 1]!), 'utf8');
  const m = /^(?:totals|summary): (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

/** The callgrind process of a target: valgrind is the child of taskset's exec, i.e. the pid itself. */
function valgrindPid(root: number, dir: string): number {
  const pids = new Set(processTree(root));
  const found = readdirSync(dir)
    .map((f) => /^cg\.(\d+)\.out$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((p) => pids.has(p));
  if (found.length === 0) throw new Error(`no callgrind process under ${root}`);
  // nginx: the master and its worker; the worker (the newest) does the proxying.
  return Math.max(...found);
}

/**
 * System calls of `pid` (all its threads; nginx: its newest worker) while `what` runs:
 * `strace -f -c -p`, stopped with SIGINT, its summary parsed. Total and the top calls.
 */
async function straceCounts(pids: readonly number[], what: () => Promise<void>): Promise<{ total: number; byName: Record<string, number>; failed: Record<string, number> }> {
  const out = join(scratch, `strace-${pids[0]}-${Date.now()}.txt`);
  const st = spawn('strace', ['-f', '-c', '-o', out, ...pids.flatMap((pid) => ['-p', String(pid)])], { stdio: 'ignore' });
  // strace attaches before it prints anything; give it a moment (no event to await).
  await new Promise((r) => setTimeout(r, 1000));
  await what();
  await new Promise<void>((resolve) => {
    st.once('exit', () => resolve());
    st.kill('SIGINT');
  });
  const byName: Record<string, number> = {};
  const failed: Record<string, number> = {};
  let total = 0;
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    // % time  seconds  usecs/call  calls  [errors]  syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$/.exec(line);
    if (!m) continue;
    if (m[3] === 'total') total = Number(m[1]);
    else {
      byName[m[3]!] = Number(m[1]);
      if (m[2] !== undefined) failed[m[3]!] = Number(m[2]);
    }
  }
  return { total, byName, failed };
}

/** Passes are of equal size, so the mean is all measured instructions over all measured connections. */
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Per connection: all instructions, and those in TurboFan and in the garbage collector (inclusive; shares of `ir`). */
interface Counted {
  ir: number;
  compile: number;
  gc: number;
  /** Major GC: background GC jobs (concurrent marking, sweeping) and mark-compact pauses. */
  major: number;
}

/**
 * Inclusive counts of the functions that start V8's background compiles and its garbage
 * collections: `OptimizingCompileDispatcher::CompileTask` (TurboFan on a worker thread),
 * `Heap::CollectGarbage` (main-thread pauses: scavenges, mark-compact) and
 * `DefaultJobWorker::Run` (parallel and concurrent GC jobs: marking, sweeping, evacuation).
 */
function breakdown(file: string): { compile: number; gc: number; major: number } {
  const out = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  const get = (name: string) => {
    const line = out.split('\n').find((l) => l.includes(name));
    return line ? Number(/^\s*([\d,]+)/.exec(line)?.[1]?.replace(/,/g, '') ?? 0) : 0;
  };
  return {
    compile: get('OptimizingCompileDispatcher::CompileTask::RunInternal'),
    gc: get('v8::internal::Heap::CollectGarbage(') + get('v8::platform::DefaultJobWorker::Run('),
    major: get('v8::platform::DefaultJobWorker::Run(') + get('v8::internal::Heap::MarkCompact()'),
  };
}

interface ConnFigures {
  /** Per connection, each warm-up chunk and each measured pass. */
  warmup: number[];
  passes: Counted[];
  passMs: number[];
}
/** Per MiB moved (see the bulk phase): without TurboFan's compiles, and without major GCs too. */
interface BulkFigures {
  up: number;
  down: number;
  upSteady: number;
  downSteady: number;
}
const results: Record<string, { conn: ConnFigures; bulk: BulkFigures }> = {};
/** The newest dump of `pid`. */
function lastDump(dir: string, pid: number): string {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(`cg.${pid}.out.`))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  return join(dir, files[files.length - 1]!);
}
const syscallResults: Record<string, { perConn: number; byName: Record<string, number>; failed: Record<string, number> }> = {};
const db = await scratchDatabase('switchyard_bench_instructions');
const scratch = mkdtempSync(join(tmpdir(), 'sy-bench-cg-'));
const ports: BenchPorts = { echo: await getFreePort(), bulkTls: await getFreePort(), bulkPlain: await getFreePort(), upTls: await getFreePort(), upPlain: await getFreePort() };
const procs: Proc[] = [];
try {
  await seedRoutes(db.url, ROUTES, ports);
  const backends = await startIpcChild('backends', 'bench/proxy/backends.ts', { BENCH_PORTS: [ports.echo, ports.bulkTls, ports.bulkPlain, ports.upTls, ports.upPlain].join(',') }, ALL_CPUS);
  procs.push(backends);
  for (const t of TARGETS) {
    const dir = mkdtempSync(join(scratch, `${t}-`));
    const wrap = PLAIN ? [] : ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${join(dir, 'cg.%p.out')}`, ...(t === 'nginx' ? ['--trace-children=yes'] : [])];
    const port = await getFreePort();
    log(`${t}: starting${PLAIN ? '' : ' under callgrind (slow)'}`);
    // One directory per target: every thread (tsx's loader thread too) writes its own profile.
    const profArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF, t)}`, '--cpu-prof-interval=100'] : [];
    if (t === 'switchyard' || t === 'baseline') process.env.BENCH_SWITCHYARD_NODE_ARGS = profArgs.join(' ');
    let p: Proc;
    if (t === 'switchyard' || t === 'baseline') {
      p = await startSwitchyard(
        { databaseUrl: db.url, tlsPort: port, adminPort: await getFreePort(), cpus: ALL_CPUS, workers: PLAIN ? WORKERS : 1, proxyId: `cg-${t}`, checkout: t === 'baseline' ? opt.baseline : undefined, wrap, env: { LOG_LEVEL: 'warn', PROXY_HANDSHAKE_TIMEOUT_MS: '120000', PROXY_CONNECT_TIMEOUT_MS: '60000', ...(opt['keep-timers'] ? {} : STRETCHED_TIMERS) } },
        processTree,
      );
    } else if (t === 'node') {
      p = await startNodeReference({ databaseUrl: db.url, port, cpus: ALL_CPUS, workers: PLAIN ? WORKERS : 1, wrap, nodeArgs: profArgs });
    } else if (t === 'haproxy') {
      p = await startHaproxy({ databaseUrl: db.url, dir, port, cpus: ALL_CPUS, threads: 1, maxconn: 2000, wrap });
    } else {
      p = await startNginx({ databaseUrl: db.url, dir, port, cpus: ALL_CPUS, workers: 1, maxconn: 2000, wrap });
    }
    procs.push(p);
    if (CPU_PROF) {
      log(`${t}: warming up`);
      await conns(port, WARMUP);
      const t0 = performance.now();
      await conns(port, CONNS * PASSES);
      log(`${t}: ${CONNS * PASSES} connections in ${((performance.now() - t0) / 1000).toFixed(1)} s; profiles in ${join(CPU_PROF, t)} (the main thread: CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile)`);
      await p.stop();
      procs.pop();
      continue;
    }
    if (SYSCALLS) {
      log(`${t}: warming up`);
      await conns(port, CONNS);
      // nginx: the worker (the newest process of the tree) does the proxying; a cluster: all of them.
      const pids = t === 'nginx' ? [Math.max(...processTree(p.pid))] : processTree(p.pid);
      const r = await straceCounts(pids, () => conns(port, CONNS));
      const perConn = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v / CONNS]));
      syscallResults[t] = { perConn: r.total / CONNS, byName: perConn(r.byName), failed: perConn(r.failed) };
      log(`${t}: ${(r.total / CONNS).toFixed(1)} system calls per connection`);
      await p.stop();
      procs.pop();
      continue;
    }
    const pid = valgrindPid(p.pid, dir);
    const count = async (what: () => Promise<void>, detail = false) => {
      callgrindControl(pid, '-z');
      const t0 = performance.now();
      await what();
      const ms = performance.now() - t0;
      callgrindControl(pid, '-d');
      const file = lastDump(dir, pid);
      return { ir: lastDumpTotal(dir, pid), ms, ...(detail ? breakdown(file) : { compile: NaN, gc: NaN, major: NaN }) };
    };
    // Warm-up, in counted chunks, until the JIT settled (see the header).
    const conn: ConnFigures = { warmup: [], passes: [], passMs: [] };
    for (let done = 0; done < WARMUP; done += CONNS) {
      const c = await count(() => conns(port, CONNS), true);
      conn.warmup.push(c.ir / CONNS);
      log(`${t}: warm-up ${conn.warmup.length}: ${fmt(c.ir / CONNS)} per connection (TurboFan ${((100 * c.compile) / c.ir).toFixed(0)} %, GC ${((100 * c.gc) / c.ir).toFixed(0)} %), ${(c.ms / 1000).toFixed(1)} s`);
      // Not "two chunks agree": twice in four runs two chunks agreed within 5 % while
      // TurboFan was still a third of them.
      if (c.compile < SETTLED * c.ir) break;
    }
    for (let i = 0; i < PASSES; i++) {
      const c = await count(() => conns(port, CONNS), true);
      conn.passes.push({ ir: c.ir / CONNS, compile: c.compile / c.ir, gc: c.gc / c.ir, major: c.major / c.ir });
      conn.passMs.push(c.ms);
      log(`${t}: pass ${i + 1}: ${fmt(c.ir / CONNS)} per connection (TurboFan ${((100 * c.compile) / c.ir).toFixed(0)} %, GC ${((100 * c.gc) / c.ir).toFixed(0)} %, of which major ${((100 * c.major) / c.ir).toFixed(0)} %), ${(c.ms / 1000).toFixed(1)} s`);
    }
    // Bulk: warmed up once, each transfer counted twice and the lower count kept, without
    // TurboFan's background compiles (a late recompile of the pipe's handlers landed in one
    // 16 MiB count at 46 % of it), and without major GCs too (one mark-compact, ~130 M
    // instructions, is more than a 16 MiB transfer; it lands in some counts and not others).
    // Each count holds the STREAMS connections' set-up (accept, route, dial: ~1 M
    // instructions each under callgrind, as much as a few MiB moved); the same transfer of
    // SETUP_MIB, counted the same way, is taken off, so the figures are per MiB moved.
    const fig: BulkFigures = { up: NaN, down: NaN, upSteady: NaN, downSteady: NaN };
    if (MIB > 0) {
      await bulk(port, 'up', MIB);
      await bulk(port, 'down', MIB);
      const lower = async (what: () => Promise<void>) => {
        const a = await count(what, true);
        const b = await count(what, true);
        const exJit = (c: typeof a) => c.ir - c.compile;
        return { exJit: Math.min(exJit(a), exJit(b)), steady: Math.min(exJit(a) - a.major, exJit(b) - b.major) };
      };
      for (const direction of ['up', 'down'] as const) {
        const big = await lower(() => bulk(port, direction, MIB));
        const small = await lower(() => bulk(port, direction, SETUP_MIB));
        fig[direction] = (big.exJit - small.exJit) / (MIB - SETUP_MIB);
        fig[`${direction}Steady`] = (big.steady - small.steady) / (MIB - SETUP_MIB);
      }
    }
    results[t] = { conn, bulk: fig };
    log(
      `${t}: ${fmt(mean(conn.passes.map((x) => x.ir)))} instructions per connection (mean of ${PASSES} passes); per MiB ex-TurboFan ${fmt(fig.up)} up, ${fmt(fig.down)} down; ex-major GC too ${fmt(fig.upSteady)} up, ${fmt(fig.downSteady)} down`,
    );
    await p.stop();
    procs.pop();
  }
} finally {
  for (const p of procs.reverse()) await p.stop();
  await db.close();
  rmSync(scratch, { recursive: true, force: true });
}

if (CPU_PROF) process.exit(0);
if (SYSCALLS) {
  console.log(`\nSystem calls per new TLS connection (strace -f -c, ${CONNS} connections after a warm-up)${refused ? ` (${refused} refused connections retried)` : ''}`);
  const names = [...new Set(Object.values(syscallResults).flatMap((r) => Object.keys(r.byName)))].sort();
  console.log(['syscall', ...Object.keys(syscallResults)].join(' | '));
  const cell = (r: (typeof syscallResults)[string], n: string) => `${(r.byName[n] ?? 0).toFixed(2)}${r.failed[n] ? ` (${r.failed[n].toFixed(2)} failed)` : ''}`;
  for (const n of names) console.log([n, ...Object.values(syscallResults).map((r) => cell(r, n))].join(' | '));
  console.log(['total', ...Object.values(syscallResults).map((r) => r.perConn.toFixed(1))].join(' | '));
  process.exit(0);
}
console.log(
  `\nUser-space instructions (callgrind), ${fmt(ROUTES)} routes; per new TLS connection: mean of ${PASSES} passes of ${CONNS} after the warm-up settled; ${MIB} MiB per direction${refused ? ` (${refused} refused connections retried)` : ''}`,
);
const ref = results.node;
/** Per connection over all passes: everything; without TurboFan; without TurboFan and major GCs. */
const all = (r: ConnFigures) => mean(r.passes.map((x) => x.ir));
const exJit = (r: ConnFigures) => mean(r.passes.map((x) => x.ir * (1 - x.compile)));
const steady = (r: ConnFigures) => mean(r.passes.map((x) => x.ir * (1 - x.compile - x.major)));
const pcts = (xs: number[]) => xs.map((x) => `${(100 * x).toFixed(0)}`).join('/');
const ratio = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
console.log(['target', 'all', 'passes min–max', 'ex-TurboFan', 'ex-TurboFan, ex-major GC', 'TurboFan %', 'major GC %', 'warm-up chunks', 'pass s', 'per MiB up / down, ex-TurboFan', 'per MiB up / down, ex-TF ex-major', '÷ Node ref. (all / ex-TF / ex-TF ex-major / up / down ex-TF)'].join(' | '));
for (const [t, r] of Object.entries(results)) {
  const c = r.conn;
  const irs = c.passes.map((x) => x.ir);
  const rel = ref ? [all(c) / all(ref.conn), exJit(c) / exJit(ref.conn), steady(c) / steady(ref.conn), r.bulk.up / ref.bulk.up, r.bulk.down / ref.bulk.down].map(ratio).join(' / ') : '—';
  console.log(
    [
      t,
      fmt(all(c)),
      `${fmt(Math.min(...irs))}–${fmt(Math.max(...irs))}`,
      fmt(exJit(c)),
      fmt(steady(c)),
      pcts(c.passes.map((x) => x.compile)),
      pcts(c.passes.map((x) => x.major)),
      c.warmup.map(fmt).join(', '),
      c.passMs.map((m) => (m / 1000).toFixed(0)).join(','),
      `${fmt(r.bulk.up)} / ${fmt(r.bulk.down)}`,
      `${fmt(r.bulk.upSteady)} / ${fmt(r.bulk.downSteady)}`,
      rel,
    ].join(' | '),
  );
}
