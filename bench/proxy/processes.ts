/**
 * The processes of the proxy benchmark, each started with a CPU affinity (`taskset -c`):
 * the backends and the load generator (IPC children), the Switchyard proxy (a real
 * `apps/proxy` process against the control database) and HAProxy (Debian's binary, with a
 * configuration generated from the same routes).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTE_SNAPSHOT_SQL, routeFromRow, type RouteSnapshotRow } from '@switchyard/core';
import { TEST_KEYS } from '@switchyard/testkit';
import pg from 'pg';
import { root } from '../lib.js';
import type { Command } from './loadgen.js';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Keeps the last 200 kB of a child's output for error messages. `BENCH_OUTPUT_DIR=<dir>` also
 * writes all of it to `<dir>/<name>-<pid>.log`, the folder made if missing (e.g. a proxy run with `--trace-gc-nvp`).
 */
function track(name: string, child: ChildProcess): Proc {
  let out = '';
  const dir = process.env.BENCH_OUTPUT_DIR;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    const file = createWriteStream(join(dir, `${name}-${child.pid}.log`));
    child.stdout?.pipe(file, { end: false });
    child.stderr?.pipe(file, { end: false });
    child.once('close', () => file.end());
  }
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  return {
    name,
    child,
    pid: child.pid!,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * `taskset -c cpus node --import tsx <entry>` — taskset execs, so the pid is node's. An
 * entry ending in `.js` (a build's `dist/`) runs as production runs it: plain node, no tsx.
 */
export function spawnTs(name: string, entry: string, env: NodeJS.ProcessEnv, cpus: string, ipc = false, nodeArgs: readonly string[] = [], wrap: readonly string[] = []): Proc {
  const loader = entry.endsWith('.js') ? [] : ['--conditions=switchyard-source', '--import', 'tsx'];
  const args = ['-c', cpus, ...wrap, process.execPath, ...nodeArgs, ...loader, entry.startsWith('/') ? entry : join(root, entry)];
  const child = spawn('taskset', args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? (['ipc'] as const) : [])],
  });
  return track(name, child);
}

export interface IpcProc extends Proc {
  request<T>(command: Command): Promise<T>;
}

export async function startIpcChild(name: string, entry: string, env: NodeJS.ProcessEnv, cpus: string): Promise<IpcProc> {
  const p = spawnTs(name, entry, env, cpus, true);
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  p.child.on('message', (m: { id?: number; result?: unknown; error?: string }) => {
    if (m.id === undefined) return;
    const w = pending.get(m.id);
    pending.delete(m.id);
    if (m.error) w?.reject(new Error(`${name}: ${m.error}`));
    else w?.resolve(m.result);
  });
  p.child.once('exit', (code) => {
    for (const w of pending.values()) w.reject(new Error(`${name} exited (${code}):\n${p.output()}`));
    pending.clear();
  });
  await new Promise<void>((resolve, reject) => {
    const onMsg = (m: { type?: string }) => {
      if (m.type === 'ready') {
        p.child.off('message', onMsg);
        resolve();
      }
    };
    p.child.on('message', onMsg);
    p.child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before ready:\n${p.output()}`)));
  });
  return {
    ...p,
    request: <T>(command: Command) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve: resolve, reject });
        p.child.send({ id, command });
      }),
  };
}

export async function waitHttpOk(url: string, proc: Proc, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proc.name} not ready at ${url}:\n${proc.output()}`);
}

export interface SwitchyardOptions {
  databaseUrl: string;
  tlsPort: number;
  adminPort: number;
  cpus: string;
  workers: number;
  proxyId: string;
  /** Another checkout to run the proxy from (`--baseline`: A/B against an earlier commit). */
  checkout?: string;
  /** A command the proxy runs under (e.g. valgrind), and a longer start-up allowance. */
  wrap?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Node flags after `BENCH_SWITCHYARD_NODE_ARGS` (`--baseline-node-args`: an A/B of a V8 flag). */
  nodeArgs?: readonly string[];
  /**
   * Run the checkout's build (`apps/proxy/dist/main.js`, plain node) as production does
   * (Dockerfile, `npm start`) instead of the sources under tsx; `buildProxy` makes it.
   */
  dist?: boolean;
}

export interface StartedSwitchyard extends Proc {
  adminPort: number;
  /** Spawn to ready (route table loaded, listeners bound), ms. */
  readyMs: number;
  /** The proxy's own "route table loaded" time (snapshot query + build), ms; max over workers. */
  loadMs: number | null;
  /** Node processes in the tree once ready (>1 when PROXY_WORKERS is supported). */
  processes: number;
}

/** bench/proxy/settle.mjs, preloaded into every Switchyard process (the baseline's too). */
const SETTLE_IMPORT = ['--import', join(root, 'bench/proxy/settle.mjs')] as const;

/**
 * Runs two full garbage collections in every Node process of a Switchyard tree started by
 * `startSwitchyard` (SIGUSR2 to bench/proxy/settle.mjs), waits for each to report, then for
 * the tree's RSS to stop moving (two reads 200 ms apart within 64 KiB); returns that RSS.
 */
export async function settleRss(p: Proc, processTree: (pid: number) => number[], rss: (pid: number) => number, replyLines?: string[]): Promise<number> {
  const pids = processTree(p.pid).filter(isNode);
  // Counted as they arrive (each reply is one short write, so one chunk holds it whole).
  let replies = 0;
  const onData = (d: Buffer) => {
    const lines = d.toString().match(/bench-settled[^\n]*/g) ?? [];
    replies += lines.length;
    replyLines?.push(...lines);
  };
  p.child.stderr?.on('data', onData);
  try {
    for (const pid of pids) process.kill(pid, 'SIGUSR2');
    const until = Date.now() + 30_000;
    while (replies < pids.length) {
      if (Date.now() > until) throw new Error(`${p.name}: no bench-settled reply (is bench/proxy/settle.mjs preloaded?)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    p.child.stderr?.off('data', onData);
  }
  let last = rss(p.pid);
  for (let i = 0; i < 25; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = rss(p.pid);
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  return last;
}

/** tsx keeps an esbuild service child; it is idle after start-up and not a proxy worker. */
function isNode(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'esbuild';
  } catch {
    return false;
  }
}

export async function startSwitchyard(o: SwitchyardOptions, processTree: (pid: number) => number[]): Promise<StartedSwitchyard> {
  const t0 = performance.now();
  const p = spawnTs(
    o.proxyId,
    join(o.checkout ?? root, o.dist ? 'apps/proxy/dist/main.js' : 'apps/proxy/src/main.ts'),
    {
      DATABASE_URL: o.databaseUrl,
      SWITCHYARD_LISTENERS: `tls=tls@127.0.0.1:${o.tlsPort}`,
      PROXY_ADMIN_HOST: '127.0.0.1',
      PROXY_ADMIN_PORT: String(o.adminPort),
      PROXY_ID: o.proxyId,
      // One worker per core where the proxy supports it (ignored otherwise).
      PROXY_WORKERS: String(o.workers),
      LOG_LEVEL: 'info',
      // Opens the terminate route's key (bench/proxy/seed.ts seedTerminateRoute).
      SWITCHYARD_KEYS: TEST_KEYS,
      ...o.env,
    },
    o.cpus,
    false,
    // Profiling a run: BENCH_SWITCHYARD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
    [SETTLE_IMPORT[0], SETTLE_IMPORT[1], ...(process.env.BENCH_SWITCHYARD_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(o.nodeArgs ?? [])],
    o.wrap,
  );
  await waitHttpOk(`http://127.0.0.1:${o.adminPort}/readyz`, p, o.wrap?.length ? 900_000 : 120_000);
  const readyMs = performance.now() - t0;
  // A single process logs its load just before it listens; the line may trail /readyz.
  for (let i = 0; i < 20 && !p.output().includes('"route table loaded"'); i++) await new Promise((r) => setTimeout(r, 25));
  const loads = [...p.output().matchAll(/"ms":(\d+)[^\n]*"msg":"route table loaded"|"msg":"route table loaded"[^\n]*"ms":(\d+)/g)].map((m) => Number(m[1] ?? m[2]));
  return {
    ...p,
    adminPort: o.adminPort,
    readyMs,
    loadMs: loads.length ? Math.max(...loads) : null,
    processes: processTree(p.pid).filter(isNode).length,
  };
}

/** Compiles a checkout's proxy and the packages it uses (`tsc -b`, incremental) for `dist: true`. */
export function buildProxy(checkout: string = root): void {
  execFileSync(process.execPath, [join(checkout, 'node_modules/typescript/bin/tsc'), '-b', join(checkout, 'apps/proxy')], { cwd: checkout, stdio: 'inherit' });
}

export interface HaproxyOptions {
  databaseUrl: string;
  dir: string;
  port: number;
  cpus: string;
  threads: number;
  maxconn: number;
  wrap?: readonly string[];
}

/**
 * HAProxy with the same SNI routes as the control database: a map from host name to
 * backend (one backend per distinct upstream endpoint), TLS passthrough, and the classic
 * `tcp-request inspect-delay` + `req_ssl_sni` recipe. A map lookup (ebtree) rather than one
 * ACL per route, which is how one would run HAProxy with 100,000 names.
 */
export async function startHaproxy(o: HaproxyOptions): Promise<Proc & { routes: number; version: string }> {
  const client = new pg.Client({ connectionString: o.databaseUrl });
  await client.connect();
  const rows = (await client.query<RouteSnapshotRow>(ROUTE_SNAPSHOT_SQL, [null])).rows.map(routeFromRow);
  await client.end();
  const backends = new Map<string, string>();
  const map: string[] = [];
  for (const r of rows) {
    if (!r.enabled || r.listener !== 'tls') continue;
    const ep = r.endpoints[0]!;
    const key = `${ep.host}:${ep.port}`;
    let name = backends.get(key);
    if (!name) backends.set(key, (name = `be_${backends.size}`));
    map.push(`${r.hostname} ${name}`);
  }
  const mapFile = join(o.dir, 'routes.map');
  writeFileSync(mapFile, map.join('\n') + '\n');
  const cfg = [
    'global',
    `  maxconn ${o.maxconn}`,
    `  nbthread ${o.threads}`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '',
    'frontend fe_tls',
    `  bind 127.0.0.1:${o.port}`,
    `  maxconn ${o.maxconn}`,
    '  tcp-request inspect-delay 10s',
    '  tcp-request content accept if { req_ssl_hello_type 1 }',
    '  tcp-request content reject',
    `  use_backend %[req_ssl_sni,lower,map(${mapFile},be_none)]`,
    '  default_backend be_none',
    '',
    'backend be_none',
    '  tcp-request content reject',
    ...[...backends].flatMap(([ep, name]) => ['', `backend ${name}`, `  server s ${ep}`]),
    '',
  ].join('\n');
  const cfgFile = join(o.dir, 'haproxy.cfg');
  writeFileSync(cfgFile, cfg);
  execFileSync('haproxy', ['-c', '-q', '-f', cfgFile]);
  const version = execFileSync('haproxy', ['-v'])
    .toString()
    .split('\n')[0]!
    .replace(/^HAProxy version /, '')
    .split(' ')[0]!;
  const child = spawn('taskset', ['-c', o.cpus, ...(o.wrap ?? []), 'haproxy', '-db', '-f', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = track('haproxy', child);
  await waitAccepting(o.port, p, o.wrap?.length ? 600_000 : 30_000);
  return { ...p, routes: map.length, version };
}

/** Resolves once something accepts TCP connections on the port (or throws when `proc` died). */
async function waitAccepting(port: number, p: Proc, timeoutMs = 30_000): Promise<void> {
  const net = await import('node:net');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (p.child.exitCode !== null || Date.now() > until) throw new Error(`${p.name} did not start:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The routes every reference proxy serves: host name → first endpoint, `tls` listener, enabled. */
async function tlsRoutes(databaseUrl: string): Promise<Array<{ hostname: string; endpoint: string }>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const rows = (await client.query<RouteSnapshotRow>(ROUTE_SNAPSHOT_SQL, [null])).rows.map(routeFromRow);
  await client.end();
  return rows.filter((r) => r.enabled && r.listener === 'tls').map((r) => ({ hostname: r.hostname, endpoint: `${r.endpoints[0]!.host}:${r.endpoints[0]!.port}` }));
}

/** Debian ships the stream module (ssl_preread) as a dynamic module in its own package. */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** Why nginx cannot run here (missing program or module, with the Debian packages to install), or null. */
export function nginxMissing(): string | null {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
  } catch {
    return 'nginx not found: apt-get install nginx libnginx-mod-stream (or nginx-light libnginx-mod-stream)';
  }
  try {
    readFileSync(NGINX_STREAM_MODULE);
  } catch {
    return `nginx stream module missing (${NGINX_STREAM_MODULE}): apt-get install libnginx-mod-stream`;
  }
  return null;
}

export interface NginxOptions {
  databaseUrl: string;
  dir: string;
  port: number;
  cpus: string;
  workers: number;
  maxconn: number;
  wrap?: readonly string[];
}

/**
 * nginx's stream proxy with the same SNI routes: `ssl_preread` reads the ClientHello, a
 * `map` (hash) from the server name to `address:port`, `proxy_pass` to it. The usual way to
 * do SNI passthrough with nginx.
 */
export async function startNginx(o: NginxOptions): Promise<Proc & { routes: number; version: string }> {
  const routes = await tlsRoutes(o.databaseUrl);
  const mapFile = join(o.dir, 'nginx-routes.map');
  writeFileSync(mapFile, routes.map((r) => `${r.hostname} ${r.endpoint};`).join('\n') + '\n');
  const cfg = [
    `load_module ${NGINX_STREAM_MODULE};`,
    'daemon off;',
    'master_process on;',
    `worker_processes ${o.workers};`,
    `worker_rlimit_nofile ${o.maxconn * 2 + 1000};`,
    `pid ${join(o.dir, 'nginx.pid')};`,
    'error_log stderr warn;',
    `events { worker_connections ${o.maxconn * 2}; }`,
    'stream {',
    '  map_hash_max_size 262144;',
    '  map_hash_bucket_size 128;',
    '  map $ssl_preread_server_name $backend {',
    '    default 127.0.0.1:9;',
    `    include ${mapFile};`,
    '  }',
    '  server {',
    `    listen 127.0.0.1:${o.port} backlog=4096;`,
    '    ssl_preread on;',
    '    preread_timeout 10s;',
    '    proxy_connect_timeout 5s;',
    '    proxy_timeout 1h;',
    '    proxy_pass $backend;',
    '  }',
    '}',
    '',
  ].join('\n');
  const cfgFile = join(o.dir, 'nginx.conf');
  writeFileSync(cfgFile, cfg);
  execFileSync('nginx', ['-e', 'stderr', '-p', o.dir, '-t', '-q', '-c', cfgFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const child = spawn('taskset', ['-c', o.cpus, ...(o.wrap ?? []), 'nginx', '-e', 'stderr', '-p', o.dir, '-c', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = track('nginx', child);
  await waitAccepting(o.port, p, o.wrap?.length ? 600_000 : 30_000);
  return { ...p, routes: routes.length, version: nginxVersion() };
}

/** `nginx -v` prints "nginx version: nginx/1.22.1" on stderr. */
function nginxVersion(): string {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(r.stderr ?? '')?.[1] ?? 'unknown';
}

export interface NodeReferenceOptions {
  databaseUrl: string;
  port: number;
  cpus: string;
  workers: number;
  wrap?: readonly string[];
  /** Extra node flags (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
}

/** bench/proxy/node-reference.ts: the minimal Node passthrough proxy (what Node itself costs). */
export async function startNodeReference(o: NodeReferenceOptions): Promise<Proc> {
  const p = spawnTs('node-ref', 'bench/proxy/node-reference.ts', { DATABASE_URL: o.databaseUrl, BENCH_PORT: String(o.port), BENCH_WORKERS: String(o.workers) }, o.cpus, false, o.nodeArgs ?? [], o.wrap);
  const until = Date.now() + (o.wrap?.length ? 900_000 : 120_000);
  while (!p.output().includes('ready')) {
    if (p.child.exitCode !== null || Date.now() > until) throw new Error(`node reference did not start:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return p;
}
