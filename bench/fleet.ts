/**
 * `npm run bench:fleet`: a fleet of proxies against one control database.
 *
 * Its own throwaway PostgreSQL (embedded, a temp folder, a free port: never the machine's
 * shared server, since this benchmark restarts it) holding ROUTES routes, the API as its own
 * process, and proxy processes (single-process each, every one holding the whole table):
 *
 * 1. Propagation: for each fleet size in FLEET (default 3,10,20; proxies are added, not
 *    restarted), CHANGES route changes through the API one after another; commit → applied
 *    on every proxy, read from NOTIFY on one clock (the config channel fires at commit, each
 *    proxy's "applied" notification once it serves the version). p50/p99 of the slowest
 *    proxy per change. Goal p99 < 250 ms.
 * 2. Thundering herd (the largest fleet): the control database is stopped and started again
 *    while a probe opens a connection through every proxy every PROBE_MS (a ClientHello to an
 *    echo upstream, the bytes must come back); then one change is made and the time until
 *    every proxy applied it is "back in sync" (goal < 30 s, every probe answered). The
 *    database's connections (pg_stat_activity) and CPU (its process tree, from /proc) are
 *    sampled throughout; peaks reported.
 *
 *   npm run bench:fleet
 *   FLEET=3,10,20 ROUTES=100000 CHANGES=1000 DOWN_MS=3000 npm run bench:fleet
 */
import { readFileSync, mkdtempSync, rmSync, chmodSync, readdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, startEmbeddedPostgres, type RunningPostgres } from '@switchyard/db';
import { getFreePort } from '@switchyard/db/testing';
import { buildClientHello } from '@switchyard/wire';
import pg from 'pg';
import { scrapeMetrics, summary } from './lib.js';
import { treeCpuMicros } from './proxy/procfs.js';
import { AppliedWatch, load, seedFleet, startApi, startProxies, type FleetProxy } from './proxy/fleet-lib.js';

const FLEET = (process.env.FLEET ?? '3,10,20').split(',').map(Number);
const ROUTES = Number(process.env.ROUTES ?? 100_000);
const CHANGES = Number(process.env.CHANGES ?? 1000);
const DOWN_MS = Number(process.env.DOWN_MS ?? 3000);
const PROBE_MS = Number(process.env.PROBE_MS ?? 250);
const HERD = process.env.HERD !== '0';
const ECHO_HOST = 'echo.fleet.switchyard.test';
/** Run the proxies from another checkout (A/B of the resync behaviour), e.g. /work/main. */
const CHECKOUT = process.env.PROXY_CHECKOUT;

const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

const dir = mkdtempSync(join(tmpdir(), 'sy-fleet-'));
chmodSync(dir, 0o755);
const pgPort = await getFreePort();
const settings = { max_connections: '500' };
const startDb = () => startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: pgPort, persistent: true, settings });
let server: RunningPostgres = await startDb();
const adminUrl = server.url;
const url = adminUrl.replace(/\/postgres$/, '/switchyard_fleet');

const echo = createServer((s) => s.pipe(s));
await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
const echoPort = (echo.address() as { port: number }).port;

const proxies: FleetProxy[] = [];
const watch = new AppliedWatch(url);
let api: Awaited<ReturnType<typeof startApi>> | null = null;
const results: string[] = [];
try {
  const a0 = new pg.Client({ connectionString: adminUrl });
  await a0.connect();
  await a0.query('CREATE DATABASE switchyard_fleet');
  await a0.end();
  await migrate(url);
  api = await startApi(url);
  await api.call('POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', upstreamPolicy: { hostSuffixes: ['bench.svc.cluster.local'], cidrs: [] } });
  log(`seeding ${ROUTES} routes`);
  await seedFleet(url, { databases: 1, fillerRoutes: ROUTES });
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(
    `WITH d AS (INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, endpoints, updated_at)
                SELECT gen_random_uuid(), id, 'echo', 'tls', '127.0.0.1', $1, '[]', now() FROM tenants WHERE slug = 'bench' RETURNING id, tenant_id)
     INSERT INTO routes (id, database_id, tenant_id, hostname, listener, tls_mode, enabled, updated_at)
     SELECT gen_random_uuid(), id, tenant_id, $2, 'tls', 'passthrough', true, now() FROM d`,
    [echoPort, ECHO_HOST],
  );
  await c.end();
  await api.call('PUT', '/api/v1/tenants/bench/databases/db0/external-access', { enabled: true });
  await watch.start();

  // 1. Propagation at each fleet size.
  for (const n of FLEET) {
    log(`starting proxies ${proxies.length} → ${n} (load ${load()})`);
    proxies.push(...(await startProxies(n - proxies.length, url, 'fleet', { first: proxies.length, checkout: CHECKOUT })));
    const ids = proxies.map((p) => p.name);
    const worst: number[] = [];
    let timeouts = 0;
    const l0 = load();
    // CPU time (not wall time: comparable on a loaded machine) the proxies, the database and
    // the API spend on the changes.
    const dbPid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const cpu = () => ({ proxies: proxies.reduce((n, p) => n + treeCpuMicros(p.pid), 0), db: treeCpuMicros(dbPid), api: treeCpuMicros(api!.proc.pid) });
    const cpu0 = cpu();
    for (let k = 0; k < CHANGES; k++) {
      const r = await api.call('PUT', '/api/v1/tenants/bench/databases/db0/external-access', { enabled: k % 2 === 1 });
      const v = Number(r.version);
      const all = await watch.waitAll(ids, v, 5000);
      const committed = watch.committed.get(v);
      if (all === null || committed === undefined) timeouts++;
      else worst.push(Math.max(0, all - committed));
      await new Promise((res) => setTimeout(res, 5));
    }
    const cpu1 = cpu();
    const per = (k: 'proxies' | 'db' | 'api') => (cpu1[k] - cpu0[k]) / CHANGES / 1000;
    const s = summary(worst);
    const line =
      `${String(n).padStart(3)} proxies: commit → applied on all, ${worst.length} changes: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms, ${timeouts} not within 5 s (load ${l0} → ${load()}); ` +
      `CPU per change: proxies ${per('proxies').toFixed(2)} ms (${(per('proxies') / n).toFixed(2)} each), database ${per('db').toFixed(2)} ms, API ${per('api').toFixed(2)} ms`;
    log(line);
    results.push(line);
  }

  // 2. Thundering herd.
  if (HERD) {
    const hello = buildClientHello({ serverName: ECHO_HOST });
    const metricsOfBefore = async (p: FleetProxy) => {
      const text = await scrapeMetrics(p.adminPort);
      if (text === null) throw new Error(`${p.name}: /metrics did not answer before the restart`);
      const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      return { full: num(/^switchyard_proxy_route_syncs_total\{kind="full",result="ok"\} (\d+)/m), delta: num(/^switchyard_proxy_route_syncs_total\{kind="delta",result="ok"\} (\d+)/m) };
    };
    const probes = proxies.map(() => ({ ok: 0, failed: 0, lastError: '' }));
    let probing = true;
    const probeOnce = (port: number) =>
      new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        let got = 0;
        const t = setTimeout(() => {
          s.destroy();
          reject(new Error('timeout'));
        }, 2000);
        s.on('connect', () => s.write(hello));
        s.on('data', (d) => {
          got += d.length;
          if (got >= hello.length) {
            clearTimeout(t);
            s.destroy();
            resolve();
          }
        });
        s.on('error', (e) => {
          clearTimeout(t);
          reject(e);
        });
        s.on('close', () => {
          clearTimeout(t);
          if (got < hello.length) reject(new Error('closed'));
        });
      });
    const probeLoops = proxies.map(async (p, i) => {
      const port = p.tlsPort;
      while (probing) {
        await probeOnce(port).then(
          () => probes[i]!.ok++,
          (e: Error) => {
            probes[i]!.failed++;
            probes[i]!.lastError = e.message;
          },
        );
        await new Promise((r) => setTimeout(r, PROBE_MS));
      }
    });

    // Database connections and CPU, sampled.
    let peakConns = 0;
    let peakCpu = 0;
    const cpuSamples: Array<[number, number]> = [];
    let sampling = true;
    const last = new Map<number, number>();
    const dbCpuTicks = () => {
      let sum = 0;
      const pid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        try {
          const text = readFileSync(`/proc/${name}/stat`, 'utf8');
          const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
          if (Number(name) !== pid && Number(f[1]) !== pid) continue;
          const ticks = Number(f[11]) + Number(f[12]);
          sum += ticks - (last.get(Number(name)) ?? 0);
          last.set(Number(name), ticks);
        } catch {
          // exited
        }
      }
      return sum;
    };
    const sampler = (async () => {
      let mon: pg.Client | null = null;
      let prev = performance.now();
      while (sampling) {
        await new Promise((r) => setTimeout(r, 250));
        try {
          const now = performance.now();
          const cpu = (dbCpuTicks() * 10) / (now - prev); // ticks are 10 ms: fraction of one core
          prev = now;
          cpuSamples.push([now, cpu]);
          peakCpu = Math.max(peakCpu, cpu);
        } catch {
          // server down: no postmaster.pid
        }
        try {
          if (!mon) {
            mon = new pg.Client({ connectionString: adminUrl });
            mon.on('error', () => {});
            await mon.connect();
          }
          const r = await mon.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'`);
          peakConns = Math.max(peakConns, r.rows[0]!.n);
        } catch {
          await mon?.end().catch(() => {});
          mon = null;
        }
      }
      await mon?.end().catch(() => {});
    })();

    await new Promise((r) => setTimeout(r, 2000));
    const before = probes.map((p) => ({ ...p }));
    const syncsBefore = await Promise.all(proxies.map(metricsOfBefore));
    peakConns = 0;
    peakCpu = 0;
    const l0 = load();
    log(`herd: stopping the control database with ${proxies.length} proxies connected (load ${l0})`);
    const tStop = performance.now();
    await server.stop();
    await new Promise((r) => setTimeout(r, DOWN_MS));
    server = await startDb();
    const tUp = performance.now();
    log(`herd: database up again after ${((tUp - tStop) / 1000).toFixed(1)} s`);
    await watch.reconnect();
    // One real change once the API can commit again (the opposite of the route's state).
    let v = 0;
    for (let i = 0; i < 300 && !v; i++) {
      v = await api
        .call('GET', '/api/v1/tenants/bench/databases/db0/external-access')
        .then((cur) => api!.call('PUT', '/api/v1/tenants/bench/databases/db0/external-access', { enabled: !cur.enabled }))
        .then(
          (r) => Number(r.version),
          () => 0,
        );
      if (!v) await new Promise((r) => setTimeout(r, 100));
    }
    const tChange = performance.now();
    // In sync: LISTEN connection back (it would otherwise miss the next change) and serving
    // the new version; the proxy's own counters say how it resynced (full snapshot or delta).
    let adminErrors = 0;
    const metricsOf = async (p: FleetProxy) => {
      // A busy proxy's admin port may drop a scrape: count it, try again on the next round.
      const text = await scrapeMetrics(p.adminPort);
      if (text === null) adminErrors++;
      const num = (re: RegExp) => Number(re.exec(text ?? '')?.[1] ?? 0);
      return {
        up: num(/^switchyard_proxy_control_db_up (\d+)/m),
        version: num(/^switchyard_proxy_config_version (\d+)/m),
        full: num(/^switchyard_proxy_route_syncs_total\{kind="full",result="ok"\} (\d+)/m),
        delta: num(/^switchyard_proxy_route_syncs_total\{kind="delta",result="ok"\} (\d+)/m),
      };
    };
    let all: number | null = null;
    let seen: Array<Awaited<ReturnType<typeof metricsOf>>> = [];
    while (performance.now() - tUp < 60_000) {
      seen = await Promise.all(proxies.map(metricsOf));
      if (seen.every((m) => m.up === 1 && m.version >= v)) {
        all = performance.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const tSync = all ?? performance.now();
    const fulls = seen.reduce((n, m, i) => n + m.full - syncsBefore[i]!.full, 0);
    const deltas = seen.reduce((n, m, i) => n + m.delta - syncsBefore[i]!.delta, 0);
    // Let the resync's tail show in the samples, then stop probing.
    await new Promise((r) => setTimeout(r, 2000));
    probing = false;
    sampling = false;
    await Promise.all(probeLoops);
    await sampler;
    const during = probes.map((p, i) => ({ ok: p.ok - before[i]!.ok, failed: p.failed - before[i]!.failed, lastError: p.lastError }));
    const cpuAfter = cpuSamples.filter(([t]) => t >= tUp);
    const lines = [
      `herd, ${proxies.length} proxies${CHECKOUT ? ` (from ${CHECKOUT})` : ''}, database down ${((tUp - tStop) / 1000).toFixed(1)} s: all back in sync ${all === null ? 'NOT within 60 s' : `${((tSync - tUp) / 1000).toFixed(2)} s after the database was up (a change committed at +${((tChange - tUp) / 1000).toFixed(2)} s)`}; resyncs: ${fulls} full snapshots, ${deltas} deltas${adminErrors ? ` (${adminErrors} admin scrapes failed and were retried)` : ''}`,
      `  probes through every proxy during the restart: ${during.reduce((n, p) => n + p.ok, 0)} answered, ${during.reduce((n, p) => n + p.failed, 0)} failed${during.some((p) => p.failed) ? ` (${during.map((p, i) => (p.failed ? `${proxies[i]!.name}: ${p.failed} ${p.lastError}` : '')).filter(Boolean).join('; ')})` : ''}`,
      `  database: peak ${peakConns} client connections, peak CPU ${(peakCpu * 100).toFixed(0)} % of one core (mean ${((cpuAfter.reduce((n, [, x]) => n + x, 0) / Math.max(1, cpuAfter.length)) * 100).toFixed(0)} % over the ${(((cpuAfter.at(-1)?.[0] ?? tUp) - tUp) / 1000).toFixed(1)} s after it was up); load ${l0} → ${load()}`,
    ];
    for (const l of lines) log(l);
    results.push(...lines);
  }
  console.log(`\nfleet: ${ROUTES} routes, ${CHANGES} changes per fleet size`);
  for (const r of results) console.log(`  ${r}`);
} finally {
  await watch.stop();
  for (const p of proxies) await p.stop();
  await api?.stop();
  echo.close();
  await server.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
