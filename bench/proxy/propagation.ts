/**
 * (e) Time from an API commit to every proxy applying it. The real API process changes a
 * route (`PUT …/external-access`, one at a time); three real proxy processes (each holding
 * the whole table, 100,000 routes) apply it. This process LISTENs on both channels over one
 * connection: the config NOTIFY arrives when the change commits, each proxy's "applied"
 * NOTIFY (sent once its new table is swapped in and its heartbeat row written) when that
 * proxy serves it. Both instants are read on the same clock over the same path, so the
 * difference is commit → applied (plus the proxy's one heartbeat write: conservative).
 */
import { CONFIG_CHANNEL, PROXY_APPLIED_CHANNEL } from '@switchyard/core';
import { getFreePort } from '@switchyard/db/testing';
import pg from 'pg';
import { metricValue, scrapeMetrics, summary } from '../lib.js';
import { spawnTs, startSwitchyard, waitHttpOk, type Proc } from './processes.js';
import { processTree } from './procfs.js';

const ADMIN = 'bench-admin-token-0123456789abcdef0123456789abcdef';

export interface PropagationResult {
  changes: number;
  timeouts: number;
  perProxy: Array<{
    proxyId: string;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    selfReportedMeanMs: number | null;
  }>;
  /** Per change, the slowest of the 3 proxies. */
  all: { p50Ms: number; p99Ms: number; maxMs: number };
  proxyLoadMs: Array<number | null>;
}

export async function propagationBench(o: {
  tenant: string;
  databaseUrl: string;
  proxyCpus: string;
  loadCpus: string;
  changes: number;
  workers: number;
}): Promise<PropagationResult> {
  const apiPort = await getFreePort();
  const procs: Proc[] = [];
  const listen = new pg.Client({ connectionString: o.databaseUrl });
  try {
    const api = spawnTs(
      'api',
      'apps/api/src/server.ts',
      {
        DATABASE_URL: o.databaseUrl,
        API_HOST: '127.0.0.1',
        API_PORT: String(apiPort),
        API_METRICS_PORT: '0',
        SWITCHYARD_ADMIN_TOKEN: ADMIN,
        SWITCHYARD_LISTENERS: `postgres=postgres@127.0.0.1:${await getFreePort()},tls=tls@127.0.0.1:${await getFreePort()}`,
        LOG_LEVEL: 'warn',
      },
      o.loadCpus,
    );
    procs.push(api);
    await waitHttpOk(`http://127.0.0.1:${apiPort}/readyz`, api);
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN}`,
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await r.json()) as any;
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    const t = o.tenant;
    await call('POST', '/api/v1/tenants', {
      slug: t,
      name: 'Propagation',
      upstreamPolicy: { hostSuffixes: [`${t}.svc.cluster.local`], cidrs: [] },
    });
    await call('POST', `/api/v1/tenants/${t}/databases`, {
      name: 'p0',
      engine: 'postgres',
      upstream: { host: `pg0.${t}.svc.cluster.local`, port: 5432 },
    });
    await call('PUT', `/api/v1/tenants/${t}/databases/p0/external-access`, {
      enabled: true,
    });

    const proxies = [];
    for (let i = 0; i < 3; i++) {
      const p = await startSwitchyard(
        {
          databaseUrl: o.databaseUrl,
          tlsPort: await getFreePort(),
          adminPort: await getFreePort(),
          cpus: o.proxyCpus,
          workers: o.workers,
          proxyId: `bench-prop-${i}`,
        },
        processTree,
      );
      procs.push(p);
      proxies.push(p);
    }
    const ids = proxies.map((p) => p.name);

    const committed = new Map<number, number>();
    const applied = new Map<string, Array<[number, number]>>(ids.map((id) => [id, []]));
    let wake: (() => void) | null = null;
    listen.on('notification', (n) => {
      const now = performance.now();
      if (n.channel === CONFIG_CHANNEL) {
        committed.set(Number(n.payload), now);
      } else if (n.channel === PROXY_APPLIED_CHANNEL) {
        const i = n.payload!.lastIndexOf(':');
        applied.get(n.payload!.slice(0, i))?.push([Number(n.payload!.slice(i + 1)), now]);
      }
      wake?.();
    });
    await listen.connect();
    await listen.query(`LISTEN ${CONFIG_CHANNEL}`);
    await listen.query(`LISTEN ${PROXY_APPLIED_CHANNEL}`);

    const appliedAt = (id: string, v: number) => applied.get(id)!.find(([av]) => av >= v)?.[1];
    const lags = new Map<string, number[]>(ids.map((id) => [id, []]));
    const worst: number[] = [];
    let timeouts = 0;
    for (let k = 0; k < o.changes; k++) {
      const r = await call('PUT', `/api/v1/tenants/${t}/databases/p0/external-access`, { enabled: k % 2 === 1 });
      const v = Number(r.version);
      const deadline = performance.now() + 5000;
      while (!(committed.has(v) && ids.every((id) => appliedAt(id, v) !== undefined)) && performance.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      const c = committed.get(v);
      if (c === undefined || ids.some((id) => appliedAt(id, v) === undefined)) {
        timeouts++;
        continue;
      }
      let w = 0;
      for (const id of ids) {
        const lag = Math.max(0, appliedAt(id, v)! - c);
        lags.get(id)!.push(lag);
        w = Math.max(w, lag);
      }
      worst.push(w);
      await new Promise((r) => setTimeout(r, 5));
    }

    const perProxy = [];
    for (const p of proxies) {
      const s = summary(lags.get(p.name)!);
      let selfReportedMeanMs: number | null = null;
      // Metrics are a cross-check only: a failed scrape leaves it null.
      const text = await scrapeMetrics(p.adminPort);
      const count = metricValue(text, /switchyard_proxy_config_apply_seconds_count (\d+)/);
      const sum = metricValue(text, /switchyard_proxy_config_apply_seconds_sum ([\d.e+-]+)/);
      if (count > 0) selfReportedMeanMs = (sum / count) * 1000;
      perProxy.push({
        proxyId: p.name,
        p50Ms: s.p50,
        p99Ms: s.p99,
        maxMs: s.max,
        selfReportedMeanMs,
      });
    }
    const a = summary(worst);
    return {
      changes: worst.length,
      timeouts,
      perProxy,
      all: { p50Ms: a.p50, p99Ms: a.p99, maxMs: a.max },
      proxyLoadMs: proxies.map((p) => p.loadMs),
    };
  } finally {
    await listen.end().catch(() => {});
    for (const p of procs.reverse()) await p.stop();
  }
}
