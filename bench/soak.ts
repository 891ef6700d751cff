/**
 * `npm run bench:soak`: the proxy under a steady stream of new connections for a long run
 * (issue 13: 1,000,000 connections over at least 15 minutes), with sessions held open
 * throughout. Not a test; prints one line per minute and a verdict:
 *
 *  - RSS of the proxy's process tree at the end within 10 % of its level after warm-up, both
 *    read settled (two full GCs, bench/proxy/settle.mjs, then RSS still) so that where a
 *    collection happens to be does not decide it; the unsettled RSS of each minute is logged;
 *  - no leaked file descriptors (open fds of the tree back to their level after warm-up);
 *  - no held session dropped (each is pinged every 10 s and must echo);
 *  - p99 of new connections flat (last minute ≤ 1.5× the first measured minute).
 *
 * Connections: plain ones that open with a ClientHello (routed by its SNI to a TCP echo
 * server, which sends the hello back; the load generator does no TLS, so it is not the limit)
 * and a share of real TLS connections (full handshake, 32-byte echo). A control share
 * (`--direct-share`, 5 %) goes straight to the echo server, the same plain exchange without
 * the proxy, from the same generator: its p99 each minute shows what the machine (the
 * generator, the backends, the kernel's TIME_WAIT table) adds over the run, beside the
 * proxied p99. Control connections are not counted in the totals.
 *
 *   npm run bench:soak                                    # 15 min, 1,120 conn/s, 1,000 held
 *   npm run bench:soak -- --minutes 2 --rate 500          # a short run
 *   npm run bench:soak -- --workers 2 --routes 100000
 */
import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { getFreePort } from '@switchyard/db/testing';
import { buildClientHello } from '@switchyard/wire';
import { metricValue, scrapeMetrics, scratchDatabase, summary } from './lib.js';
import { settleRss, startIpcChild, startSwitchyard, type Proc } from './proxy/processes.js';
import { pinTree, processTree, treeRssBytes } from './proxy/procfs.js';
import { ECHO_PLAIN_HOST, HOSTS, seedRoutes, type BenchPorts } from './proxy/seed.js';

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string' },
    rate: { type: 'string' },
    'tls-share': { type: 'string' },
    held: { type: 'string' },
    routes: { type: 'string' },
    workers: { type: 'string' },
    'max-in-flight': { type: 'string' },
    'direct-share': { type: 'string' },
  },
});
const MINUTES = Number(opt.minutes ?? 15);
// 1,120/s × 15 min = 1,008,000: issue 13 asks 1,000,000 in at least 15 minutes.
const RATE = Number(opt.rate ?? 1120);
const TLS_SHARE = Number(opt['tls-share'] ?? 0.05);
const HELD = Number(opt.held ?? 1000);
const ROUTES = Number(opt.routes ?? 10_000);
const WORKERS = Number(opt.workers ?? 1);
const MAX_IN_FLIGHT = Number(opt['max-in-flight'] ?? 2000);
const DIRECT_SHARE = Number(opt['direct-share'] ?? 0.05);
const cores = availableParallelism();

const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');

/** TCP sockets in TIME_WAIT on this machine (/proc/net/sockstat): loopback soaks fill the port range. */
function timeWait(): number {
  const m = /TCP: .*\btw (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The proxy's event-loop delay p99 since the previous scrape (prom-client resets it on each read), ms. */
async function loopP99(adminPort: number): Promise<number> {
  return metricValue(await scrapeMetrics(adminPort), /^switchyard_proxy_nodejs_eventloop_lag_p99_seconds (\S+)$/m) * 1000;
}

function treeFds(root: number): number {
  let n = 0;
  for (const pid of processTree(root)) {
    try {
      n += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

const hello = buildClientHello({ serverName: ECHO_PLAIN_HOST });

/** A plain connection: ClientHello out, the same bytes back, close. Resolves with the latency (ms). */
function plainConnection(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let got = 0;
    const s = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => s.write(hello));
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= hello.length) {
        const ms = performance.now() - t0;
        s.once('close', () => resolve(ms));
        s.end();
      }
    });
    s.once('error', reject);
    s.once('close', () => got < hello.length && reject(new Error('closed before the echo')));
  });
}

function tlsConnection(port: number, hold?: TLSSocket[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = tlsConnect({ host: '127.0.0.1', port, servername: HOSTS.echo, rejectUnauthorized: false });
    s.once('secureConnect', () => s.write(Buffer.alloc(32, 0x78)));
    s.once('data', () => {
      const ms = performance.now() - t0;
      if (hold) {
        hold.push(s);
        return resolve(ms);
      }
      s.once('close', () => resolve(ms));
      s.end();
    });
    s.once('error', reject);
  });
}

const db = await scratchDatabase('switchyard_bench_soak');
const ports: BenchPorts = { echo: await getFreePort(), bulkTls: await getFreePort(), bulkPlain: await getFreePort(), upTls: await getFreePort(), upPlain: await getFreePort(), echoPlain: await getFreePort() };
const procs: Proc[] = [];
let failed: boolean;
try {
  await seedRoutes(db.url, ROUTES, ports);
  const loadCpus = cores > 1 ? `1-${cores - 1}` : '0';
  const proxyCpus = WORKERS === 1 && cores > 1 ? '0' : `0-${cores - 1}`;
  pinTree(process.pid, loadCpus);
  const backends = await startIpcChild('backends', 'bench/proxy/backends.ts', { BENCH_PORTS: [ports.echo, ports.bulkTls, ports.bulkPlain, ports.upTls, ports.upPlain, ports.echoPlain].join(',') }, loadCpus);
  procs.push(backends);
  const port = await getFreePort();
  const sy = await startSwitchyard({ databaseUrl: db.url, tlsPort: port, adminPort: await getFreePort(), cpus: proxyCpus, workers: WORKERS, proxyId: 'bench-soak', env: { LOG_LEVEL: 'warn' } }, processTree);
  procs.push(sy);
  log(`proxy ready (${WORKERS} worker(s), ${fmt(ROUTES)} routes); ${MINUTES} min at ${fmt(RATE)} new conn/s (${fmt(TLS_SHARE * 100)} % TLS), ${fmt(HELD)} held sessions`);

  const held: TLSSocket[] = [];
  for (let i = 0; i < HELD; i += 50) await Promise.all(Array.from({ length: Math.min(50, HELD - i) }, () => tlsConnection(port, held)));
  let heldDropped = 0;
  for (const s of held) s.once('close', () => heldDropped++);
  let pingFailures = 0;
  const ping = setInterval(() => {
    for (const s of held) {
      if (s.destroyed) continue;
      const timer = setTimeout(() => pingFailures++, 5000);
      s.once('data', () => clearTimeout(timer));
      s.write('p');
    }
  }, 10_000);

  let inFlight = 0;
  let opened = 0;
  let errors = 0;
  let skipped = 0;
  let firstError = '';
  let latencies: number[] = [];
  let direct: number[] = [];
  let directErrors = 0;
  // Credit from the clock, not per tick: a timer that fires late (a busy event loop) must not
  // lower the rate, so each tick starts what the elapsed time owes.
  const started = performance.now();
  let due = 0;
  let credit = 0;
  const tick = setInterval(() => {
    const owed = Math.floor(((performance.now() - started) / 1000) * RATE);
    credit += owed - due;
    due = owed;
    while (credit >= 1) {
      credit--;
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped++;
        continue;
      }
      if (Math.random() < DIRECT_SHARE) {
        plainConnection(ports.echoPlain!).then(
          (ms) => direct.push(ms),
          () => directErrors++,
        );
      }
      inFlight++;
      (Math.random() < TLS_SHARE ? tlsConnection(port) : plainConnection(port)).then(
        (ms) => {
          inFlight--;
          opened++;
          latencies.push(ms);
        },
        (err: Error) => {
          inFlight--;
          errors++;
          firstError ||= err.message;
        },
      );
    }
  }, 10);

  const minutes: Array<{ minute: number; opened: number; errors: number; p50: number; p99: number; directP99: number; rssMiB: number; fds: number; loopP99Ms: number; timeWait: number }> = [];
  let warmSettledMiB = NaN;
  await loopP99(sy.adminPort); // starts the event-loop delay's first interval
  for (let m = 1; m <= MINUTES; m++) {
    await sleep(60_000);
    const s = summary(latencies);
    const d = summary(direct);
    latencies = [];
    direct = [];
    const row = { minute: m, opened, errors, p50: s.p50, p99: s.p99, directP99: d.p99, rssMiB: treeRssBytes(sy.pid) / 2 ** 20, fds: treeFds(sy.pid), loopP99Ms: await loopP99(sy.adminPort), timeWait: timeWait() };
    minutes.push(row);
    log(
      `min ${m}: ${fmt(opened)} connections so far, ${errors} errors, ${skipped} skipped (in-flight cap), p50 ${fmt(s.p50, 2)} ms, p99 ${fmt(s.p99, 2)} ms (direct control p50 ${fmt(d.p50, 2)}, p99 ${fmt(d.p99, 2)} ms), proxy event-loop delay p99 ${fmt(row.loopP99Ms, 1)} ms, RSS ${fmt(row.rssMiB, 1)} MiB, ${row.fds} fds, ${fmt(row.timeWait)} in TIME_WAIT, held ${HELD - heldDropped}/${HELD}`,
    );
    // After warm-up: the level the end is compared with, settled (the load keeps running).
    if (m === 1) {
      warmSettledMiB = (await settleRss(sy, processTree, treeRssBytes)) / 2 ** 20;
      log(`RSS after minute 1, settled: ${fmt(warmSettledMiB, 1)} MiB`);
    }
  }
  clearInterval(tick);
  clearInterval(ping);
  while (inFlight > 0) await sleep(50);
  await sleep(2000);
  const end = { rssMiB: (await settleRss(sy, processTree, treeRssBytes)) / 2 ** 20, fds: treeFds(sy.pid) };
  const warm = minutes[0]!;
  const rssRange = `${fmt(Math.min(...minutes.map((x) => x.rssMiB)), 1)}–${fmt(Math.max(...minutes.map((x) => x.rssMiB)), 1)}`;
  const last = minutes[minutes.length - 1]!;
  const checks: Array<[string, boolean]> = [
    [`RSS settled at the end ${fmt(end.rssMiB, 1)} MiB within 10 % of minute 1's ${fmt(warmSettledMiB, 1)} MiB (unsettled ${rssRange} MiB over the run)`, end.rssMiB <= warmSettledMiB * 1.1],
    [`fds at the end ${end.fds} ≤ minute 1's ${warm.fds} (no leak)`, end.fds <= warm.fds],
    [`held sessions: ${HELD - heldDropped}/${HELD} open, ${pingFailures} unanswered pings`, heldDropped === 0 && pingFailures === 0],
    [`p99 last minute ${fmt(last.p99, 2)} ms ≤ 1.5 × minute 1's ${fmt(warm.p99, 2)} ms`, last.p99 <= warm.p99 * 1.5],
    [`rate held: ${fmt(opened / (MINUTES * 60))} conn/s against ${fmt(RATE)} asked (≥ 99 %)`, opened >= RATE * MINUTES * 60 * 0.99],
    [`${fmt(opened)} connections, ${errors} errors${firstError ? ` (first: ${firstError})` : ''}, ${skipped} not started (in-flight cap)`, errors === 0 && skipped === 0],
  ];
  console.log('\n=== soak verdict');
  for (const [what, ok] of checks) console.log(`  ${ok ? 'PASS' : 'MISS'}  ${what}`);
  console.log(
    `  info  direct control (no proxy, same generator): p99 ${fmt(warm.directP99, 2)} ms in minute 1, ${fmt(last.directP99, 2)} ms in the last; p99 added by the proxy ${fmt(warm.p99 - warm.directP99, 2)} → ${fmt(last.p99 - last.directP99, 2)} ms; ${directErrors} control errors`,
  );
  failed = checks.some(([, ok]) => !ok);
  for (const s of held) s.destroy();
} finally {
  for (const p of procs.reverse()) await p.stop();
  await db.close();
}
process.exit(failed ? 1 : 0);
