/**
 * `npm run bench:instructions`: CPU per new connection and per MiB moved, counted in
 * instructions under valgrind's callgrind — repeatable whatever else runs on the machine,
 * unlike wall-clock CPU time on shared cores (issue 13). Each proxy runs under callgrind; the
 * load (a separate, normal process: this one) warms it up, then for each phase the counters
 * are zeroed (`callgrind_control -z`), the phase runs, and they are dumped (`-d`):
 *
 *   conns   N new TLS connections (full handshake, 32-byte echo, close), concurrency 4
 *   up      M MiB of plain bytes after a ClientHello, client → upstream, 4 streams
 *   down    M MiB upstream → client, 4 streams
 *
 * User-space instructions only: the kernel's share (accept, connect, read/write, epoll) is
 * not counted, and is about the same for every proxy doing the same syscalls; /proc CPU time
 * in `npm run bench` includes it. The route table holds `--routes` synthetic routes (default
 * 1,000: under valgrind a 100,000-route load takes minutes, and a lookup is one Map read
 * whatever the size).
 *
 *   npm run bench:instructions
 *   npm run bench:instructions -- --targets switchyard,node,haproxy --conns 500 --mib 64
 *   npm run bench:instructions -- --baseline /tmp/sy-base --targets switchyard,baseline
 *   npm run bench:instructions -- --syscalls --targets switchyard,node   # system calls instead
 *
 * `--syscalls`: the targets run without valgrind, and `strace -f -c` is attached (`-p`) for
 * the measured connections only (after the warm-up): system calls per new connection, by
 * name — what the kernel side costs, which the instruction counts leave out.
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
    syscalls: { type: 'boolean', default: false },
  },
});
const SYSCALLS = opt.syscalls;
type Target = 'switchyard' | 'baseline' | 'node' | 'haproxy' | 'nginx';
const TARGETS = (opt.targets ?? 'switchyard,node,haproxy').split(',') as Target[];
const ROUTES = Number(opt.routes ?? 1000);
const CONNS = Number(opt.conns ?? 400);
const MIB = Number(opt.mib ?? 64);
const STREAMS = 4;
const ALL_CPUS = `0-${availableParallelism() - 1}`;

try {
  execFileSync(SYSCALLS ? 'strace' : 'valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error(SYSCALLS ? 'strace not found: apt-get install strace' : 'valgrind not found: apt-get install valgrind');
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
    Array.from({ length: 4 }, async () => {
      while (next++ < n) {
        for (;;) {
          try {
            await oneConnection(port);
            break;
          } catch {
            refused++;
          }
        }
      }
    }),
  );
}

/** `mib` MiB over STREAMS plain streams after a ClientHello, in the given direction. */
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
            const pump = () => {
              while (moved < per) {
                moved += chunk.length;
                if (!s.write(chunk)) return;
              }
              s.end(() => resolve());
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
async function straceCounts(pid: number, what: () => Promise<void>): Promise<{ total: number; byName: Record<string, number> }> {
  const out = join(scratch, `strace-${pid}-${Date.now()}.txt`);
  const st = spawn('strace', ['-f', '-c', '-o', out, '-p', String(pid)], { stdio: 'ignore' });
  // strace attaches before it prints anything; give it a moment (no event to await).
  await new Promise((r) => setTimeout(r, 1000));
  await what();
  await new Promise<void>((resolve) => {
    st.once('exit', () => resolve());
    st.kill('SIGINT');
  });
  const byName: Record<string, number> = {};
  let total = 0;
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    // % time  seconds  usecs/call  calls  [errors]  syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (!m) continue;
    if (m[2] === 'total') total = Number(m[1]);
    else byName[m[2]!] = Number(m[1]);
  }
  return { total, byName };
}

const results: Record<string, { connIr: number; upIrPerMiB: number; downIrPerMiB: number }> = {};
const syscallResults: Record<string, { perConn: number; byName: Record<string, number> }> = {};
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
    const wrap = SYSCALLS ? [] : ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${join(dir, 'cg.%p.out')}`, ...(t === 'nginx' ? ['--trace-children=yes'] : [])];
    const port = await getFreePort();
    log(`${t}: starting${SYSCALLS ? '' : ' under callgrind (slow)'}`);
    let p: Proc;
    if (t === 'switchyard' || t === 'baseline') {
      p = await startSwitchyard(
        { databaseUrl: db.url, tlsPort: port, adminPort: await getFreePort(), cpus: ALL_CPUS, workers: 1, proxyId: `cg-${t}`, checkout: t === 'baseline' ? opt.baseline : undefined, wrap, env: { LOG_LEVEL: 'warn', PROXY_HANDSHAKE_TIMEOUT_MS: '120000', PROXY_CONNECT_TIMEOUT_MS: '60000' } },
        processTree,
      );
    } else if (t === 'node') {
      p = await startNodeReference({ databaseUrl: db.url, port, cpus: ALL_CPUS, workers: 1, wrap });
    } else if (t === 'haproxy') {
      p = await startHaproxy({ databaseUrl: db.url, dir, port, cpus: ALL_CPUS, threads: 1, maxconn: 2000, wrap });
    } else {
      p = await startNginx({ databaseUrl: db.url, dir, port, cpus: ALL_CPUS, workers: 1, maxconn: 2000, wrap });
    }
    procs.push(p);
    if (SYSCALLS) {
      log(`${t}: warming up`);
      await conns(port, CONNS);
      // nginx: the worker (the newest process of the tree) does the proxying.
      const pid = t === 'nginx' ? Math.max(...processTree(p.pid)) : p.pid;
      const r = await straceCounts(pid, () => conns(port, CONNS));
      const byName = Object.fromEntries(Object.entries(r.byName).map(([k, v]) => [k, v / CONNS]));
      syscallResults[t] = { perConn: r.total / CONNS, byName };
      log(`${t}: ${(r.total / CONNS).toFixed(1)} system calls per connection`);
      await p.stop();
      procs.pop();
      continue;
    }
    const pid = valgrindPid(p.pid, dir);
    // Warm-up: the JIT compiles the hot paths on a background thread, which callgrind counts
    // too; each phase is then measured twice and the lower count kept (a late recompile or a
    // major GC lands in one of them).
    log(`${t}: warming up`);
    await conns(port, CONNS);
    await bulk(port, 'up', MIB);
    await bulk(port, 'down', MIB);
    const measure = async (what: () => Promise<void>) => {
      const counts: number[] = [];
      for (let i = 0; i < 2; i++) {
        callgrindControl(pid, '-z');
        await what();
        callgrindControl(pid, '-d');
        counts.push(lastDumpTotal(dir, pid));
      }
      return Math.min(...counts);
    };
    const connIr = (await measure(() => conns(port, CONNS))) / CONNS;
    const upIrPerMiB = (await measure(() => bulk(port, 'up', MIB))) / MIB;
    const downIrPerMiB = (await measure(() => bulk(port, 'down', MIB))) / MIB;
    results[t] = { connIr, upIrPerMiB, downIrPerMiB };
    log(`${t}: ${fmt(connIr)} instructions per connection, ${fmt(upIrPerMiB)} per MiB up, ${fmt(downIrPerMiB)} per MiB down`);
    await p.stop();
    procs.pop();
  }
} finally {
  for (const p of procs.reverse()) await p.stop();
  await db.close();
  rmSync(scratch, { recursive: true, force: true });
}

if (SYSCALLS) {
  console.log(`\nSystem calls per new TLS connection (strace -f -c, ${CONNS} connections after a warm-up)${refused ? ` (${refused} refused connections retried)` : ''}`);
  const names = [...new Set(Object.values(syscallResults).flatMap((r) => Object.keys(r.byName)))].sort();
  console.log(['syscall', ...Object.keys(syscallResults)].join(' | '));
  for (const n of names) console.log([n, ...Object.values(syscallResults).map((r) => (r.byName[n] ?? 0).toFixed(2))].join(' | '));
  console.log(['total', ...Object.values(syscallResults).map((r) => r.perConn.toFixed(1))].join(' | '));
  process.exit(0);
}
console.log(`\nUser-space instructions (callgrind), ${fmt(ROUTES)} routes, ${CONNS} connections, ${MIB} MiB per direction${refused ? ` (${refused} refused connections retried)` : ''}`);
const ref = results.node;
console.log(['target', 'per new TLS connection', 'per MiB up', 'per MiB down', '÷ Node ref. (conn / up / down)'].join(' | '));
for (const [t, r] of Object.entries(results)) {
  const rel = ref ? [r.connIr / ref.connIr, r.upIrPerMiB / ref.upIrPerMiB, r.downIrPerMiB / ref.downIrPerMiB].map((x) => x.toFixed(2)).join(' / ') : '—';
  console.log([t, fmt(r.connIr), fmt(r.upIrPerMiB), fmt(r.downIrPerMiB), rel].join(' | '));
}
