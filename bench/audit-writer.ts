/**
 * `npm run bench:audit`: the proxy's connection-audit writer alone (apps/proxy/src/audit/
 * connection-log.ts) against a real PostgreSQL — what recording and writing one connection
 * event costs the proxy process, and how long the writer holds its event loop, the time a
 * connection arriving during a flush waits. Each variant runs in its own process pinned to
 * one core (`taskset -c 0`), repetitions interleaved, medians printed:
 *
 *   CPU µs/event     process CPU (user + system) per event, recording and writing
 *   record µs/event  the synchronous `record()` calls alone (done once per connection)
 *   flush blocks     how long one flush of a batch holds the event loop before it waits on
 *                    the database (from the call until a `setImmediate` queued with it
 *                    runs: its synchronous part, promise jobs and `nextTick`s), median / max
 *   loop delay       p99 / max of the event loop's delay (perf_hooks, 1 ms resolution)
 *   wall µs/event    round trip including the database's share
 *
 *   npm run bench:audit
 *   npm run bench:audit -- --baseline /tmp/sy-base --reps 5 --rounds 200
 *
 * `--baseline <checkout>` runs that checkout's connection-log.ts beside this one's.
 * Uses DATABASE_URL's server (a scratch database on it) or an embedded PostgreSQL.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import type * as ConnectionLogModule from '../apps/proxy/src/audit/connection-log.js';
import { createMetrics } from '../apps/proxy/src/metrics.js';
import { root, scratchDatabase, summary } from './lib.js';

const { values: opt } = parseArgs({
  options: {
    child: { type: 'string' },
    url: { type: 'string' },
    baseline: { type: 'string' },
    reps: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '100' },
    batch: { type: 'string', default: '500' },
  },
});
const rounds = Number(opt.rounds);
const batch = Number(opt.batch);

interface Result {
  cpuUs: number;
  recordUs: number;
  wallUs: number;
  flushMedianMs: number;
  flushMaxMs: number;
  loopP99Ms: number;
  loopMaxMs: number;
}

/** A routed connection's event, as the proxy records it. */
const event = (i: number, t: number) => ({
  listener: 'tls',
  routeId: '6f1c1a2e-1111-4222-8333-444455556666',
  tenantId: '6f1c1a2e-1111-4222-8333-444455556667',
  databaseId: '6f1c1a2e-1111-4222-8333-444455556668',
  clientAddress: '10.1.2.3',
  clientPort: 40_000 + (i % 20_000),
  sni: `db${i % 1000}.acme.test`,
  alpn: 'postgresql',
  tlsVersion: null,
  mode: 'passthrough',
  startedAt: t + i,
  endedAt: t + i + 3,
  bytesIn: 1234 + i,
  bytesOut: 5678,
  outcome: 'ok',
  reason: 'client_closed',
  upstream: '10.9.8.7:5432',
  connectionId: `0.${i}`,
  endedBy: null,
});

async function child(checkout: string, url: string): Promise<Result> {
  const mod = (await import(join(checkout, 'apps/proxy/src/audit/connection-log.ts'))) as typeof ConnectionLogModule;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const log = new mod.ConnectionLog(pool, { proxyId: 'bench', queueMax: 1_000_000, batchSize: batch, flushMs: 3_600_000 }, createMetrics(), pino({ level: 'warn' }));
  const t = Date.now();
  // Warm-up: JIT, the pool's connections, the server's plan cache.
  for (let w = 0; w < 20; w++) {
    for (let i = 0; i < batch; i++) log.record(event(i, t));
    await log.flush();
  }
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let recordMs = 0;
  const blocks: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = performance.now();
    for (let i = 0; i < batch; i++) log.record(event(r * batch + i, t));
    const b = performance.now();
    recordMs += b - a;
    const unblocked = new Promise<void>((resolve) => setImmediate(() => resolve(void blocks.push(performance.now() - b))));
    await log.flush();
    await unblocked;
  }
  blocks.sort((x, y) => x - y);
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  h.disable();
  const n = rounds * batch;
  await log.stop(1000);
  await pool.end();
  return { cpuUs: (c.user + c.system) / n, recordUs: (recordMs * 1000) / n, wallUs: (wallMs * 1000) / n, flushMedianMs: blocks[blocks.length >> 1]!, flushMaxMs: blocks.at(-1)!, loopP99Ms: h.percentile(99) / 1e6, loopMaxMs: h.max / 1e6 };
}

if (opt.child) {
  process.stdout.write(JSON.stringify(await child(opt.child, opt.url!)));
} else {
  const db = await scratchDatabase('switchyard_bench_audit');
  const variants: Array<[string, string]> = [['Switchyard', root], ...(opt.baseline ? [['baseline', opt.baseline] as [string, string]] : [])];
  const results = new Map<string, Result[]>(variants.map(([name]) => [name, []]));
  try {
    for (let rep = 0; rep < Number(opt.reps); rep++) {
      for (const [name, checkout] of variants) {
        const out = execFileSync('taskset', ['-c', '0', process.execPath, '--conditions=switchyard-source', '--import', 'tsx', join(root, 'bench/audit-writer.ts'), '--child', checkout, '--url', db.url, '--rounds', String(rounds), '--batch', String(batch)], { encoding: 'utf8' });
        results.get(name)!.push(JSON.parse(out) as Result);
      }
    }
  } finally {
    await db.close();
  }
  console.log(`connection-audit writer: ${rounds} batches of ${batch} events per run, ${opt.reps} interleaved runs per variant, medians`);
  console.log('variant       CPU µs/event  record µs/event  wall µs/event  flush blocks ms, median / max  loop delay p99 / max ms');
  for (const [name, rs] of results) {
    const m = (k: keyof Result) => summary(rs.map((r) => r[k])).p50;
    console.log(`${name.padEnd(12)}  ${m('cpuUs').toFixed(2).padStart(12)}  ${m('recordUs').toFixed(2).padStart(15)}  ${m('wallUs').toFixed(2).padStart(13)}  ${m('flushMedianMs').toFixed(2).padStart(21)} / ${m('flushMaxMs').toFixed(2).padEnd(5)}  ${m('loopP99Ms').toFixed(2).padStart(10)} / ${m('loopMaxMs').toFixed(2)}`);
  }
}
