/**
 * deploy/monitoring: the kustomization renders; the alert rules are valid for Prometheus and
 * behave as their unit tests say (promtool, the real rule engine, on synthetic series); every
 * metric the rules and the dashboard name is one the proxy, the controller or the API really
 * exports (their own registries, rendered), and those metrics pass promtool's lint.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { ApiMetrics } from '../../apps/api/src/metrics.js';
import { ControllerMetrics } from '../../apps/controller/src/metrics.js';
import { createMetrics } from '../../apps/proxy/src/metrics.js';

const here = import.meta.dirname;
const rulesDoc = parseYaml(readFileSync(join(here, 'prometheus-rules.yaml'), 'utf8')) as { spec: { groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; labels: Record<string, string>; annotations: Record<string, string> }> }> } };
const rules = rulesDoc.spec.groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(join(here, 'grafana-dashboard.json'), 'utf8')) as { uid: string; panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }>; gridPos: { x: number; y: number; w: number; h: number } }>; templating: { list: Array<{ query: unknown }> } };
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const docs = readFileSync(join(here, '../../docs/monitoring.md'), 'utf8');

let dir: string;
let promtool: string;
beforeAll(() => {
  promtool = requireTool('promtool');
  dir = mkdtempSync(join(tmpdir(), 'switchyard-monitoring-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const run = (cmd: string, args: string[], input?: string) => {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', input });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

/** Metric names in a PromQL expression (switchyard_*, and `up`), histogram suffixes folded. */
function metricNames(expr: string): string[] {
  const names = expr.match(/\bswitchyard_[a-z0-9_]+/g) ?? [];
  return names.map((n) => n.replace(/_(bucket|sum|count)$/, ''));
}

/** What the proxy's, the controller's and the API's registries export (the processes serve these). */
async function exposition(): Promise<string> {
  const proxy = createMetrics();
  // The API's certificate gauges come from one query of the control database: one row here,
  // so every gauge has its series.
  const row = { soonest: new Date(Date.now() + 30 * 86_400_000), expiring: 1, acme: { issued: 2, failed: 1 } };
  const api = new ApiMetrics({ $queryRaw: (() => Promise.resolve([row])) as never });
  api.observeRequest('/api/v1/meta', 'GET', 200, 0.002);
  return (await proxy.registry.metrics()) + (await new ControllerMetrics().text()) + (await api.text());
}

describe('deploy/monitoring', () => {
  it('renders with kubectl kustomize: three PodMonitors, the rules and the dashboard ConfigMap for the Grafana sidecar', () => {
    requireTool('kubectl');
    const r = spawnSync('kubectl', ['kustomize', here], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const objects = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, any>);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/switchyard-grafana-dashboard',
      'PodMonitor/switchyard-api',
      'PodMonitor/switchyard-controller',
      'PodMonitor/switchyard-proxy',
      'PrometheusRule/switchyard',
    ]);
    for (const o of objects) expect(o.metadata.namespace).toBe('switchyard');
    const cm = objects.find((o) => o.kind === 'ConfigMap')!;
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm.data['switchyard.json']).uid).toBe('switchyard');
  });

  it('scrapes the ports the base manifests name admin (proxy) and metrics (controller, API)', () => {
    const base = ['proxy.yaml', 'controller.yaml', 'api.yaml'].flatMap((f) => parseAllDocuments(readFileSync(join(here, '../base', f), 'utf8')).map((d) => d.toJS() as Record<string, any>));
    const monitors = parseAllDocuments(readFileSync(join(here, 'pod-monitors.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
    expect(monitors).toHaveLength(3);
    for (const m of monitors) {
      const app = m.spec.selector.matchLabels['app.kubernetes.io/name'];
      const workload = base.find((d) => d.kind === 'Deployment' && d.spec.template.metadata.labels['app.kubernetes.io/name'] === app);
      expect(workload, app).toBeDefined();
      const ports = (workload!.spec.template.spec.containers as Array<{ ports: Array<{ name: string }> }>).flatMap((c) => c.ports.map((p) => p.name));
      for (const e of m.spec.podMetricsEndpoints) expect(ports, app).toContain(e.port);
    }
  });

  it('has rules Prometheus accepts (promtool check rules)', () => {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rulesDoc.spec.groups }));
    const r = run(promtool, ['check', 'rules', 'rules.yaml']);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('fires and stays quiet as rules.test.yaml says (promtool test rules), every alert at least once', () => {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rulesDoc.spec.groups }));
    copyFileSync(join(here, 'rules.test.yaml'), join(dir, 'rules.test.yaml'));
    const r = run(promtool, ['test', 'rules', 'rules.test.yaml']);
    expect(r.status, r.out).toBe(0);
    const tests = parseYaml(readFileSync(join(here, 'rules.test.yaml'), 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
    const fired = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect(rules.map((r) => r.alert).filter((a) => !fired.has(a))).toEqual([]);
  });

  it('names only metrics the proxy, the controller and the API export, and those pass promtool check metrics', async () => {
    const text = await exposition();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const used = new Set([...rules.map((r) => r.expr), ...dashboardExprs, ...dashboard.templating.list.map((v) => JSON.stringify(v.query ?? ''))].flatMap(metricNames));
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((n) => !exported.has(n)).sort()).toEqual([]);
    // Lint: only prom-client's own default gauges named *_total are allowed to complain.
    const lint = run(promtool, ['check', 'metrics'], text);
    const findings = lint.out.split('\n').filter((l) => l.trim() && !/^switchyard_(proxy|api)_nodejs_active_(handles|requests|resources)_total non-counter/.test(l));
    expect(findings).toEqual([]);
  });

  it('lists every metric of the proxy and the API in docs/monitoring.md, and names only exported ones', async () => {
    const text = await exposition();
    const exported = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    // `switchyard_api_process_*` in the page stands for a family; a bare prefix (`switchyard_api_`) for none.
    const named = [...docs.matchAll(/\b(switchyard_[a-z0-9_]+)(\*)?/g)]
      .filter((m) => m[2] === '*' || !m[1]!.endsWith('_'))
      .map((m) => ({ name: m[1]!, family: m[2] === '*' }));
    const covers = (n: { name: string; family: boolean }, metric: string) => (n.family ? metric.startsWith(n.name) : metric === n.name);
    expect(exported.filter((m) => /^switchyard_(proxy|api)_/.test(m) && !named.some((n) => covers(n, m)))).toEqual([]);
    // switchyard_acme_* is the API's GET /api/v1/acme/metrics, not its metrics port.
    const unknown = named.filter((n) => !n.name.startsWith('switchyard_acme_') && !exported.some((m) => covers(n, m)));
    expect(unknown.map((n) => n.name)).toEqual([]);
  });

  it('links every alert to its runbook in docs/monitoring.md, with a severity Alertmanager can route on', () => {
    for (const r of rules) {
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels.severity);
      const anchor = r.alert.toLowerCase();
      expect(r.annotations.runbook_url).toBe(`https://github.com/switchyard/switchyard/blob/main/docs/monitoring.md#${anchor}`);
      expect(docs, `docs/monitoring.md has no section for ${r.alert}`).toMatch(new RegExp(`^### ${r.alert}$`, 'm'));
      expect(r.annotations.summary && r.annotations.description, r.alert).toBeTruthy();
    }
  });

  it('lays the dashboard out on Grafana’s 24-column grid without overlaps', () => {
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps another panel`).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
      if (p.type !== 'row') expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });
});
