/**
 * `npm run bench:api`: latency of `PUT …/external-access` under 200 concurrent requests,
 * without and with `?wait=true` (3 live proxies must apply each change), plus the
 * commit-to-applied time the proxies report. The API and the proxies run as their own
 * processes; this process only generates load over HTTP keep-alive connections.
 */
import { Agent } from 'undici';
import { getFreePort } from '@switchyard/db/testing';
import { ms, runTs, scrapeMetrics, scratchDatabase, summary, type Child } from './lib.js';

const CONCURRENCY = Number(process.env.CONCURRENCY ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ADMIN = 'bench-admin-token-0123456789abcdef0123456789abcdef';

const db = await scratchDatabase('switchyard_bench_api');
const apiPort = await getFreePort();
const listeners = `postgres=postgres@127.0.0.1:${await getFreePort()},tls=tls@127.0.0.1:${await getFreePort()}`;
const api = runTs('apps/api/src/server.ts', {
  DATABASE_URL: db.url,
  API_HOST: '127.0.0.1',
  API_PORT: String(apiPort),
  API_METRICS_PORT: '0',
  SWITCHYARD_ADMIN_TOKEN: ADMIN,
  SWITCHYARD_LISTENERS: listeners,
  LOG_LEVEL: 'warn',
  PROPAGATION_TIMEOUT_MS: '30000',
});
const proxies: Child[] = [];
try {
  await waitHttp(`http://127.0.0.1:${apiPort}/readyz`);
  const dispatcher = new Agent({ connections: CONCURRENCY, pipelining: 1 });
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher,
    });
    const json = (await r.json()) as any;
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  await call('POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', upstreamPolicy: { hostSuffixes: ['bench.svc.cluster.local'], cidrs: [] } });
  for (let i = 0; i < CONCURRENCY; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, CONCURRENCY - i) }, (_, k) =>
        call('POST', '/api/v1/tenants/bench/databases', { name: `db${i + k}`, engine: 'postgres', upstream: { host: `pg${i + k}.bench.svc.cluster.local`, port: 5432 } }),
      ),
    );
  }

  async function round(wait: boolean, enabled: boolean): Promise<number[]> {
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, i) => {
        const t = performance.now();
        const r = await call('PUT', `/api/v1/tenants/bench/databases/db${i}/external-access${wait ? '?wait=true' : ''}`, { enabled });
        latencies.push(performance.now() - t);
        if (wait && r.propagation.state !== 'applied') throw new Error(`not applied: ${JSON.stringify(r.propagation)}`);
      }),
    );
    return latencies;
  }

  const report = (label: string, values: number[]) => {
    const s = summary(values);
    console.log(`${label.padEnd(44)} p50 ${ms(s.p50).padStart(9)}  p90 ${ms(s.p90).padStart(9)}  p99 ${ms(s.p99).padStart(9)}  max ${ms(s.max).padStart(9)}`);
  };

  console.log(`${CONCURRENCY} concurrent PUT external-access calls, ${ROUNDS} rounds each way\n`);
  let all: number[] = [];
  for (let r = 0; r < ROUNDS; r++) all = all.concat(await round(false, true), await round(false, false));
  report('no proxies, no wait (commit + NOTIFY)', all);

  for (let i = 0; i < 3; i++) {
    const p = runTs('apps/proxy/src/main.ts', {
      DATABASE_URL: db.url,
      SWITCHYARD_LISTENERS: `postgres=postgres@127.0.0.1:0,tls=tls@127.0.0.1:0`,
      PROXY_ADMIN_HOST: '127.0.0.1',
      PROXY_ADMIN_PORT: '0',
      PROXY_ID: `bench-proxy-${i}`,
      LOG_LEVEL: 'info',
    });
    proxies.push(p);
    await p.waitFor('route table loaded');
  }
  all = [];
  for (let r = 0; r < ROUNDS; r++) all = all.concat(await round(false, true), await round(false, false));
  report('3 proxies, no wait', all);
  all = [];
  for (let r = 0; r < ROUNDS; r++) all = all.concat(await round(true, true), await round(true, false));
  report('3 proxies, ?wait=true (all applied)', all);

  // Commit-to-applied as each proxy measures it (histogram in /metrics).
  console.log('\ncommit → applied, per proxy (switchyard_proxy_config_apply_seconds):');
  for (const p of proxies) {
    const port = /"adminPort":(\d+)/.exec(p.output())?.[1];
    const text = (await scrapeMetrics(port!)) ?? '';
    const buckets = [...text.matchAll(/switchyard_proxy_config_apply_seconds_bucket\{le="([^"]+)"\} (\d+)/g)].map((m) => [m[1]!, Number(m[2])] as const);
    const count = Number(/switchyard_proxy_config_apply_seconds_count (\d+)/.exec(text)?.[1] ?? 0);
    const sum = Number(/switchyard_proxy_config_apply_seconds_sum ([\d.e-]+)/.exec(text)?.[1] ?? 0);
    const p99 = buckets.find(([, n]) => n >= count * 0.99)?.[0];
    console.log(`  ${/"proxyId":"([^"]+)"/.exec(p.output())?.[1] ?? '?'}: ${count} deltas applied, mean ${((sum / count) * 1000).toFixed(1)} ms, p99 ≤ ${p99} s`);
  }
  await dispatcher.close();
} finally {
  for (const p of proxies) await p.stop();
  await api.stop();
  await db.close();
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    if (api.child.exitCode !== null) throw new Error(`API exited:\n${api.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`API not ready:\n${api.output()}`);
}
