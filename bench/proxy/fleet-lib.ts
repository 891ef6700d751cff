/**
 * Shared parts of the fleet benchmarks (`bench/write-path.ts`, `bench/fleet.ts`): the API
 * as its own process, N real proxy processes, and a watcher that LISTENs on both the config
 * channel (the instant a change commits) and the proxies' "applied" channel (the instant
 * each proxy serves a version), so commit → applied is read on one clock over one path.
 */
import { CONFIG_CHANNEL, PROXY_APPLIED_CHANNEL } from '@switchyard/core';
import { getFreePort } from '@switchyard/db/testing';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Agent } from 'undici';
import { spawnTs, startSwitchyard, waitHttpOk, type Proc, type StartedSwitchyard } from './processes.js';
import { processTree } from './procfs.js';

export const ADMIN = 'bench-admin-token-0123456789abcdef0123456789abcdef';

export const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

export interface Api {
  proc: Proc;
  call<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/**
 * The API as its own process, with a platform admin client. `checkout`: another checkout's
 * API (an A/B in one run, bench/tenants.ts); `name` names its process in the logs.
 */
export async function startApi(databaseUrl: string, o: { cpus?: string; connections?: number; checkout?: string; name?: string } = {}): Promise<Api> {
  const { cpus = '0-1', connections = 256, name = 'api' } = o;
  const port = await getFreePort();
  const proc = spawnTs(
    name,
    o.checkout ? join(o.checkout, 'apps/api/src/server.ts') : 'apps/api/src/server.ts',
    {
      DATABASE_URL: databaseUrl,
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      API_METRICS_PORT: '0',
      SWITCHYARD_ADMIN_TOKEN: ADMIN,
      SWITCHYARD_LISTENERS: `tls=tls@127.0.0.1:${await getFreePort()}`,
      LOG_LEVEL: 'warn',
      PROPAGATION_TIMEOUT_MS: '60000',
    },
    cpus,
    false,
    // Profiling the API: BENCH_API_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
    (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean),
  );
  await waitHttpOk(`http://127.0.0.1:${port}/readyz`, proc);
  const dispatcher = new Agent({ connections, pipelining: 1 });
  return {
    proc,
    call: async (method, path, body) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
      });
      const json = (await r.json()) as any;
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json).slice(0, 500)}`);
      return json;
    },
    stop: async () => {
      await dispatcher.close();
      await proc.stop();
    },
  };
}

/**
 * Bulk rows straight into the control database: one tenant (`bench`, created through the
 * API so its policy is real) gets `n` databases `db0…`, and `routes` filler routes spread
 * over 500 other tenants make the table big (the API would take minutes for 100,000).
 */
export async function seedFleet(databaseUrl: string, o: { databases: number; fillerRoutes: number }): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query('BEGIN');
    await c.query(
      `INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, endpoints, updated_at)
       SELECT gen_random_uuid(), t.id, 'db' || g, 'tls', 'pg' || g || '.bench.svc.cluster.local', 5432, '[]', now()
         FROM generate_series(0, $1::int - 1) g, tenants t WHERE t.slug = 'bench'`,
      [o.databases],
    );
    if (o.fillerRoutes > 0) {
      await c.query(`INSERT INTO tenants (id, slug, name, updated_at)
                     SELECT gen_random_uuid(), 'filler' || g, 'Filler ' || g, now() FROM generate_series(0, 499) g`);
      await c.query(
        `INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, endpoints, updated_at)
         SELECT gen_random_uuid(), t.id, 'db' || g, 'tls', '127.0.0.1', 9, '[]', now()
           FROM generate_series(0, $1::int - 1) g JOIN tenants t ON t.slug = 'filler' || (g % 500)`,
        [o.fillerRoutes],
      );
      await c.query(`INSERT INTO routes (id, database_id, tenant_id, hostname, listener, tls_mode, enabled, updated_at)
                     SELECT gen_random_uuid(), d.id, d.tenant_id, d.name || '.t' || substr(t.slug, 7) || '.filler.switchyard.test',
                            'tls', 'passthrough', true, now()
                       FROM databases d JOIN tenants t ON t.id = d.tenant_id WHERE t.slug LIKE 'filler%'`);
    }
    await c.query('COMMIT');
    await c.query('ANALYZE tenants, databases, routes');
  } finally {
    await c.end();
  }
}

export type FleetProxy = StartedSwitchyard & { tlsPort: number };

/** `n` proxies named `<prefix>-<first>…`, each a single process with one `tls` listener. */
export async function startProxies(n: number, databaseUrl: string, prefix: string, o: { env?: NodeJS.ProcessEnv; cpus?: string; first?: number; checkout?: string } = {}): Promise<FleetProxy[]> {
  const out: FleetProxy[] = [];
  const first = o.first ?? 0;
  // A few at a time: 20 cold starts at once on 2 cores would measure the machine, not the start.
  const PARALLEL = 4;
  for (let i = 0; i < n; i += PARALLEL) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(PARALLEL, n - i) }, async (_, k) => {
        const tlsPort = await getFreePort();
        const p = await startSwitchyard(
          { databaseUrl, tlsPort, adminPort: await getFreePort(), cpus: o.cpus ?? '0-1', workers: 1, proxyId: `${prefix}-${first + i + k}`, env: { LOG_LEVEL: 'warn', ...o.env }, checkout: o.checkout },
          processTree,
        );
        return Object.assign(p, { tlsPort });
      }),
    );
    out.push(...batch);
  }
  return out;
}

/** Commit and apply instants per version, from NOTIFY, on this process's clock. */
export class AppliedWatch {
  readonly committed = new Map<number, number>();
  /** Per proxy: the newest version it announced and when it announced each. */
  private readonly applied = new Map<string, Array<[number, number]>>();
  private readonly newest = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private client: pg.Client | null = null;

  constructor(private readonly url: string) {}

  /** After the database restarted: listen again (retrying until it answers). */
  async reconnect(timeoutMs = 60_000): Promise<void> {
    await this.client?.end().catch(() => {});
    this.client = null;
    const until = performance.now() + timeoutMs;
    for (;;) {
      try {
        return await this.start();
      } catch (err) {
        if (performance.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async start(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url });
    c.on('notification', (n) => {
      const now = performance.now();
      if (n.channel === CONFIG_CHANNEL) {
        this.committed.set(Number(n.payload), now);
      } else if (n.channel === PROXY_APPLIED_CHANNEL) {
        const i = n.payload!.lastIndexOf(':');
        const id = n.payload!.slice(0, i);
        const v = Number(n.payload!.slice(i + 1));
        let list = this.applied.get(id);
        if (!list) this.applied.set(id, (list = []));
        list.push([v, now]);
        this.newest.set(id, Math.max(this.newest.get(id) ?? 0, v));
      }
      for (const w of this.waiters.splice(0)) w();
    });
    c.on('error', () => {});
    await c.connect();
    await c.query(`LISTEN ${CONFIG_CHANNEL}`);
    await c.query(`LISTEN ${PROXY_APPLIED_CHANNEL}`);
    this.client = c;
  }

  /** When `id` first announced a version ≥ v (undefined: not yet). */
  appliedAt(id: string, v: number): number | undefined {
    return this.applied.get(id)?.find(([av]) => av >= v)?.[1];
  }

  version(id: string): number {
    return this.newest.get(id) ?? 0;
  }

  /** Resolves with the instant the last of `ids` applied ≥ v, or null after timeoutMs. */
  async waitAll(ids: readonly string[], v: number, timeoutMs: number): Promise<number | null> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const at = ids.map((id) => this.appliedAt(id, v));
      if (at.every((x) => x !== undefined)) return Math.max(...(at));
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(left, 200));
      });
    }
  }

  async stop(): Promise<void> {
    await this.client?.end().catch(() => {});
  }
}
