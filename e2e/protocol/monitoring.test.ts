/**
 * deploy/monitoring against the real thing: a real Prometheus scrapes a real proxy (two
 * workers: the primary serves their merged registries), the API's metrics listener and a real
 * controller, loads the
 * alert rules of deploy/monitoring/prometheus-rules.yaml and evaluates them. Every rule
 * evaluates without error, every dashboard query runs, the series the alerts rely on carry
 * the values the processes report, no alert is pending on a healthy stack, and stopping the
 * proxies makes SwitchyardProxiesAllDown pending. (What each alert does over time is proven by
 * promtool's unit tests in deploy/monitoring/monitoring.test.ts.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { loadConfig as loadApiConfig, startMetricsServer, type MetricsServer } from '@switchyard/api';
import { startController, type ControllerProcess } from '@switchyard/controller';
import { FakeKube, testControllerConfig } from '@switchyard/controller/testing';
import { createTestDatabase, getFreePort, TEST_KEYS, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, requireTool, run } from '../support/tools.js';
import { startTlsPostgres, tempDir, type TlsPostgres } from '../support/upstreams.js';

const monitoring = join(import.meta.dirname, '../../deploy/monitoring');
const rules = (parseYaml(readFileSync(join(monitoring, 'prometheus-rules.yaml'), 'utf8')) as { spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> } }).spec.groups;
const dashboard = JSON.parse(readFileSync(join(monitoring, 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
const host = `orders.acme.${BASE_DOMAIN}`;

let db: TestDatabase;
let upstream: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let apiMetrics: MetricsServer;
let kube: FakeKube;
let controller: ControllerProcess;
let prometheus: ChildProcess;
let promUrl: string;
let promOut = '';

async function query(expr: string): Promise<{ status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await r.json()) as never;
}

/** Polls `check` until it returns a value (Prometheus scrapes and evaluates every second). */
async function until<T>(what: string, check: () => Promise<T | null | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nprometheus:\n${promOut.slice(-3000)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

const value = async (expr: string) => {
  const r = await query(expr);
  return r.data?.result[0] ? Number(r.data.result[0].value[1]) : null;
};

beforeAll(async () => {
  requireTool('prometheus');
  db = await createTestDatabase();
  upstream = await startTlsPostgres([host]);
  proxy = await startProxyProcess(db.url, { PROXY_WORKERS: '2', SWITCHYARD_KEYS: TEST_KEYS });
  api = await startApi(db.url, proxy.ports, { SWITCHYARD_KEYS: TEST_KEYS });
  // The API process's metrics listener (server.ts starts it beside the API port).
  apiMetrics = (await startMetricsServer(api.app.metrics, { host: '127.0.0.1', port: await getFreePort() }, api.app.log))!;
  const token = await seedTenant(api);
  expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: upstream.port } }, token)).status).toBe(201);
  expect((await api.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=true', { enabled: true }, token)).status).toBe(200);

  kube = new FakeKube();
  await kube.start();
  const apiConfig = loadApiConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_BASE_DOMAIN: BASE_DOMAIN,
    SWITCHYARD_LISTENERS: `postgres=postgres@127.0.0.1:${proxy.ports.postgres},tls=tls@127.0.0.1:${proxy.ports.tls}`,
    SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true',
    SWITCHYARD_KEYS: TEST_KEYS,
  });
  controller = await startController(testControllerConfig(apiConfig, kube.kubeconfigPath, { metricsPort: await getFreePort() }));

  // One session through the proxy, one refused host name: both outcomes in the counters.
  const psql = await run('psql', [libpq(host, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: upstream.caFile }), '-Atc', 'select 1'], { env: { PGPASSWORD: 'postgres' } });
  expect(psql.stdout.trim(), psql.stderr).toBe('1');
  await new Promise<void>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: proxy.ports.tls, servername: `nobody.acme.${BASE_DOMAIN}`, rejectUnauthorized: false });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });

  const dir = tempDir('sy-e2e-prom-');
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rules }));
  // Static targets with the labels the Prometheus Operator's PodMonitors give (job from
  // app.kubernetes.io/name, namespace, pod).
  const target = (job: string, port: number, pod: string) => ({ job_name: job, static_configs: [{ targets: [`127.0.0.1:${port}`], labels: { namespace: 'switchyard', pod } }] });
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [join(dir, 'rules.yaml')],
      scrape_configs: [
        target('switchyard-proxy', proxy.adminPort, 'switchyard-proxy-0'),
        target('switchyard-controller', controller.metricsPort, 'switchyard-controller-0'),
        target('switchyard-api', apiMetrics.port, 'switchyard-api-0'),
      ],
    }),
  );
  const port = await getFreePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.stdout!.on('data', (d: Buffer) => (promOut += d.toString()));
  prometheus.stderr!.on('data', (d: Buffer) => (promOut += d.toString()));
  await until('Prometheus to be ready', async () => ((await fetch(`${promUrl}/-/ready`).catch(() => null))?.ok ? true : null));
});

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    prometheus.kill('SIGTERM');
    await once(prometheus, 'exit');
  }
  await controller?.stop();
  await kube?.stop();
  await apiMetrics?.close();
  await api?.close();
  await proxy?.stop();
  await upstream?.cleanup();
  await db?.drop();
});

describe('monitoring with a real Prometheus', () => {
  it('scrapes the proxy (two workers merged), the API and the controller with the values they report', async () => {
    await until('every target up', async () => ((await value('sum(up{job=~"switchyard-proxy|switchyard-controller|switchyard-api"})')) === 3 ? true : null));
    const version = await proxy.version();
    expect(await until('the proxy config version', () => value('switchyard_proxy_config_version{job="switchyard-proxy"}'))).toBe(version);
    expect(await value('switchyard_proxy_workers{job="switchyard-proxy"}')).toBe(2);
    expect(await value('switchyard_proxy_control_db_up{job="switchyard-proxy"}')).toBe(1);
    expect(await value('switchyard_proxy_routes{job="switchyard-proxy"}')).toBe(1);
    expect(await value('sum(switchyard_proxy_connections_total{job="switchyard-proxy", outcome="ok"})')).toBeGreaterThanOrEqual(1);
    expect(await value('sum(switchyard_proxy_connections_total{job="switchyard-proxy", reason="unknown_host"})')).toBeGreaterThanOrEqual(1);
    expect(await value('switchyard_proxy_process_max_fds{job="switchyard-proxy"}')).toBeGreaterThan(0);
    expect(await until('the controller leader', () => value('switchyard_controller_leader{job="switchyard-controller"}'))).toBe(1);
    // The API's requests so far (tenant, database, access change) under their route patterns.
    expect(await value('sum(switchyard_api_http_requests_total{job="switchyard-api", route="/api/v1/tenants/:tenant/databases/:database/external-access", method="PUT", status="200"})')).toBeGreaterThanOrEqual(1);
  });

  it('evaluates every alert rule without error, and none is pending on a healthy stack', async () => {
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string; state: string };
    // Evaluated at least once since every target was up (an alert evaluated before the first
    // scrape, such as SwitchyardControllerDown, may be pending until then).
    const since = Date.now();
    const loaded = await until('every rule evaluated with every target up', async () => {
      const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Rule[] }> } };
      const all = r.data.groups.flatMap((g) => g.rules);
      return all.length && all.every((x) => Date.parse(x.lastEvaluation) > since) ? all : null;
    });
    expect(loaded.map((r) => r.name).sort()).toEqual(rules.flatMap((g) => g.rules.map((r) => r.alert)).sort());
    expect(loaded.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    expect(loaded.filter((r) => r.state !== 'inactive').map((r) => `${r.name} ${r.state}`)).toEqual([]);
  });

  it('runs every dashboard query', async () => {
    for (const p of dashboard.panels) {
      for (const t of p.targets ?? []) {
        const expr = t.expr.replaceAll('$namespace', 'switchyard').replaceAll('$__rate_interval', '1m');
        const r = await query(expr);
        expect(r.status, `${p.title}: ${expr}: ${r.error}`).toBe('success');
      }
    }
    // The panels about what this stack did show it.
    expect(await value('sum(switchyard_proxy_connections_open{namespace="switchyard"})')).not.toBeNull();
    expect(await value('max(switchyard_proxy_routes{namespace="switchyard"})')).toBe(1);
  });

  it('makes SwitchyardProxiesAllDown pending once the proxy stops answering', async () => {
    await proxy.stop();
    const alert = await until('the alert to be pending', async () => {
      const r = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: Array<{ labels: Record<string, string>; state: string }> } };
      return r.data.alerts.find((a) => a.labels.alertname === 'SwitchyardProxiesAllDown') ?? null;
    });
    expect(alert).toMatchObject({ state: 'pending', labels: { severity: 'critical', job: 'switchyard-proxy' } });
  });
});
